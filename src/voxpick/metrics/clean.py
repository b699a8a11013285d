"""The clean detection metric: one-to-one matching, PR curve and distance-averaged AP.

Definitions (see ``docs/metrics.md`` for the full discussion):

* Distances are Euclidean in physical units: (z, y, x) voxel coordinates times ``voxel_size``.
  ``diameter``, ``max_distance`` and ``border`` are in the same physical units.
* A prediction and a truth point may match when their distance is ``<= max_distance``
  (inclusive), with ``max_distance = match_fraction * diameter`` unless given directly.
* Precision, recall, F1 and the mean localisation error use the maximum one-to-one matching of
  smallest total distance (Hungarian). Undefined ratios are reported as 0; the mean error of
  an empty matching is NaN.
* The PR curve uses COCO-style greedy matching (descending score, nearest free truth point),
  with one point per distinct score: all predictions with ``score >= s`` are kept.
* AP at one distance is the COCO 101-point interpolated area:
  ``mean_k max{precision_i : recall_i >= k/100}`` for ``k = 0..100`` (0 when no point reaches
  that recall). The reported AP is the mean over ``max_distance = f * diameter`` for ``f`` in
  ``fractions`` (default 0.1, 0.2, 0.3, 0.4, 0.5). It is NaN when there is no truth point.
* Border exclusion (``border > 0``, needs ``canvas_size``): matching uses every point; then a
  truth point counts only if it lies at least ``border`` from every face of the volume (faces at
  voxel coordinates 0 and ``size - 1``); a matched pair counts iff its truth point counts; an
  unmatched prediction counts (as a false positive) iff it lies inside. Pairs straddling the
  margin are therefore neither rewarded nor punished.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from voxpick.metrics.matching import (
    FloatArray,
    IntArray,
    MatchResult,
    as_points,
    as_scores,
    candidate_pairs,
    check_distance,
    greedy,
    hungarian,
    scale,
)
from voxpick.validation import as_triple

#: Default fractions of the diameter at which AP is computed and averaged.
DEFAULT_AP_FRACTIONS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)

#: The 101 recall levels of COCO interpolation, ``k / 100``.
RECALL_LEVELS: FloatArray = np.arange(101) / 100


@dataclass(frozen=True)
class Evaluation:
    """Scores of one prediction set against one truth set (clean metric).

    Attributes
    ----------
    precision, recall, f1 : float
        From the Hungarian matching at ``max_distance``; 0 when undefined.
    mean_error : float
        Mean distance of the counted matched pairs, physical units; NaN when none.
    tp, fp, fn : int
        Counted true positives, false positives and false negatives.
    n_truth, n_pred : int
        Counted truth points (``tp + fn``) and predictions (``tp + fp``).
    max_distance : float
        Matching threshold, physical units.
    ap : float
        Average precision averaged over the distance fractions; NaN without truth points.
    """

    precision: float
    recall: float
    f1: float
    mean_error: float
    tp: int
    fp: int
    fn: int
    n_truth: int
    n_pred: int
    max_distance: float
    ap: float

    def as_dict(self) -> dict[str, float]:
        """Return the scores as a plain dictionary.

        Returns
        -------
        dict of str to float
        """
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"precision {self.precision:.3f}, recall {self.recall:.3f}, F1 {self.f1:.3f}, "
            f"AP {self.ap:.3f} ({self.tp} TP, {self.fp} FP, {self.fn} FN within "
            f"{self.max_distance:.3g}; mean error {self.mean_error:.3g})"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{key}</td><td>{value:.4g}</td></tr>" for key, value in self.as_dict().items()
        )
        return f"<table><tr><th>clean metric</th><th></th></tr>{rows}</table>"


@dataclass(frozen=True)
class _Prepared:
    truth: FloatArray  # physical units
    pred: FloatArray
    score: FloatArray | None
    truth_in: np.ndarray  # bool, truth point counts
    pred_in: np.ndarray  # bool, prediction lies inside the counted region


def _inside(
    points_vox: FloatArray, canvas: tuple[float, ...], vs: FloatArray, border: float
) -> np.ndarray:
    lo = points_vox * vs
    hi = (np.asarray(canvas) - 1 - points_vox) * vs
    return np.all((lo >= border) & (hi >= border), axis=1)


def _prepare(
    truth: Any, pred: Any, score: Any, voxel_size: Any, border: Any, canvas_size: Any
) -> _Prepared:
    t = as_points(truth, name="truth")
    p = as_points(pred, name="pred")
    s = as_scores(pred, score, len(p))
    vs = np.asarray(as_triple(voxel_size, name="voxel_size"))
    b = check_distance(border, name="border")
    if b > 0:
        if canvas_size is None:
            raise ValueError(
                f"border={border!r} needs the volume shape: pass canvas_size=(Z, Y, X) in voxels, "
                "e.g. canvas_size=volume.shape."
            )
        canvas = as_triple(canvas_size, name="canvas_size")
        t_in, p_in = _inside(t, canvas, vs, b), _inside(p, canvas, vs, b)
    else:
        t_in, p_in = np.ones(len(t), bool), np.ones(len(p), bool)
    return _Prepared(scale(t, vs), scale(p, vs), s, t_in, p_in)


def _resolve_distance(
    diameter: Any, match_fraction: Any, max_distance: Any
) -> tuple[float | None, float]:
    d = None if diameter is None else check_distance(diameter, name="diameter", allow_zero=False)
    if max_distance is not None:
        return d, check_distance(max_distance, name="max_distance")
    if d is None:
        raise ValueError(
            "No matching distance: pass diameter= (the threshold is then match_fraction * "
            "diameter) or max_distance= in physical units."
        )
    return d, check_distance(match_fraction, name="match_fraction", allow_zero=False) * d


def _count(
    prep: _Prepared, ti: IntArray, pi: IntArray, d: FloatArray, max_distance: float
) -> MatchResult:
    counted = prep.truth_in[ti]
    matched_p = np.zeros(len(prep.pred), bool)
    matched_p[pi] = True
    tp = int(counted.sum())
    fp = int(np.count_nonzero(prep.pred_in & ~matched_p))
    return MatchResult(
        ti[counted], pi[counted], d[counted], int(prep.truth_in.sum()), tp + fp, max_distance
    )


def _curve(prep: _Prepared, max_distance: float) -> pd.DataFrame:
    n_pred = len(prep.pred)
    score = prep.score if prep.score is not None else np.zeros(n_pred)
    ti, pi, _ = greedy(*candidate_pairs(prep.truth, prep.pred, max_distance), score)
    # +1: true positive, 0: false positive, -1: ignored (outside or matched to an ignored truth).
    status = np.where(prep.pred_in, 0, -1)
    status[pi] = np.where(prep.truth_in[ti], 1, -1)
    order = np.argsort(-score, kind="stable")
    s_sorted = score[order]
    tp = np.cumsum(status[order] == 1)
    fp = np.cumsum(status[order] == 0)
    last = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
    if n_pred == 0:
        last = np.zeros(0, np.intp)
    tp, fp = tp[last], fp[last]
    n_truth = int(prep.truth_in.sum())
    denom = tp + fp
    precision = np.divide(tp, denom, out=np.zeros(len(tp)), where=denom > 0)
    recall = tp / n_truth if n_truth else np.zeros(len(tp))
    return pd.DataFrame(
        {
            "score_threshold": s_sorted[last],
            "precision": precision,
            "recall": recall,
            "tp": tp.astype(int),
            "fp": fp.astype(int),
        }
    )


def interpolated_ap(precision: Any, recall: Any) -> float:
    """COCO 101-point interpolated average precision of one PR curve.

    Parameters
    ----------
    precision, recall : array_like
        Points of the curve, ordered by non-decreasing recall.

    Returns
    -------
    float
        ``mean over k=0..100 of max{precision_i : recall_i >= k/100}`` (0 where no point has
        that recall).
    """
    p = np.asarray(precision, dtype=float)
    r = np.asarray(recall, dtype=float)
    if len(p) == 0:
        return 0.0
    envelope = np.maximum.accumulate(p[::-1])[::-1]
    idx = np.searchsorted(r, RECALL_LEVELS, side="left")
    values = np.where(idx < len(p), envelope[np.minimum(idx, len(p) - 1)], 0.0)
    return float(values.mean())


def pr_curve(
    truth: Any,
    pred: Any,
    *,
    diameter: float | None = None,
    match_fraction: float = 0.5,
    max_distance: float | None = None,
    voxel_size: Any = 1,
    border: float = 0,
    canvas_size: Any = None,
    score: Any = None,
) -> pd.DataFrame:
    """Precision-recall curve obtained by sweeping the detection score.

    Parameters
    ----------
    truth, pred : array_like or pandas.DataFrame
        ``(N, 3)`` (z, y, x) voxel coordinates or DataFrames with ``z, y, x`` columns; ``pred``
        may carry a ``score`` column (higher = more confident).
    diameter : float, optional
        Particle diameter, physical units. Required unless ``max_distance`` is given.
    match_fraction : float
        Matching threshold as a fraction of ``diameter`` (default 0.5: a prediction must lie
        within a radius of the centre).
    max_distance : float, optional
        Matching threshold in physical units; overrides ``match_fraction``.
    voxel_size : float or sequence of 3 floats
        Voxel size along (z, y, x).
    border : float
        Margin (physical units) excluded from scoring; needs ``canvas_size``.
    canvas_size : int or sequence of 3 ints, optional
        Volume shape (z, y, x) in voxels.
    score : array_like, optional
        One score per prediction, overriding a ``score`` column. Without any score all
        predictions tie and the curve has a single point.

    Returns
    -------
    pandas.DataFrame
        One row per distinct score, by decreasing ``score_threshold``: ``precision``, ``recall``
        and the cumulative ``tp``, ``fp`` of the predictions with ``score >= score_threshold``
        (COCO-style greedy matching by descending score).
    """
    _, md = _resolve_distance(diameter, match_fraction, max_distance)
    return _curve(_prepare(truth, pred, score, voxel_size, border, canvas_size), md)


def average_precision(
    truth: Any,
    pred: Any,
    *,
    diameter: float,
    fractions: Sequence[float] = DEFAULT_AP_FRACTIONS,
    voxel_size: Any = 1,
    border: float = 0,
    canvas_size: Any = None,
    score: Any = None,
) -> float:
    """AP averaged over matching distances given as fractions of the diameter.

    Parameters
    ----------
    truth, pred : array_like or pandas.DataFrame
        As in :func:`pr_curve`.
    diameter : float
        Particle diameter, physical units.
    fractions : sequence of float
        Matching distances ``f * diameter`` at which AP is computed (default 0.1 to 0.5).
    voxel_size, border, canvas_size, score
        As in :func:`pr_curve`.

    Returns
    -------
    float
        Mean of the COCO 101-point interpolated AP over ``fractions``; NaN without truth points.
    """
    d = check_distance(diameter, name="diameter", allow_zero=False)
    fr = _check_fractions(fractions)
    prep = _prepare(truth, pred, score, voxel_size, border, canvas_size)
    return _ap(prep, d, fr)


def _check_fractions(fractions: Sequence[float]) -> list[float]:
    if isinstance(fractions, str | bytes) or not isinstance(fractions, Sequence | np.ndarray):
        raise TypeError(f"fractions={fractions!r} is not a sequence: expected e.g. (0.1, 0.5).")
    fr = [check_distance(f, name="fractions", allow_zero=False) for f in fractions]
    if not fr:
        raise ValueError("fractions is empty: expected at least one fraction of the diameter.")
    return fr


def _ap(prep: _Prepared, diameter: float, fractions: list[float]) -> float:
    if not prep.truth_in.any():
        return math.nan
    aps = []
    for f in fractions:
        curve = _curve(prep, f * diameter)
        aps.append(interpolated_ap(curve["precision"], curve["recall"]))
    return float(np.mean(aps))


def evaluate(
    truth: Any,
    pred: Any,
    *,
    diameter: float,
    voxel_size: Any = 1,
    match_fraction: float = 0.5,
    max_distance: float | None = None,
    border: float = 0,
    canvas_size: Any = None,
    score: Any = None,
    method: str = "hungarian",
    ap_fractions: Sequence[float] = DEFAULT_AP_FRACTIONS,
) -> Evaluation:
    """Score predictions against truth with the clean metric.

    Parameters
    ----------
    truth, pred : array_like or pandas.DataFrame
        ``(N, 3)`` (z, y, x) voxel coordinates or DataFrames with ``z, y, x`` columns; ``pred``
        may carry a ``score`` column (used for AP).
    diameter : float
        Particle diameter in physical units (voxels when ``voxel_size`` is 1).
    voxel_size : float or sequence of 3 floats
        Voxel size along (z, y, x); anisotropic sizes are honoured.
    match_fraction : float
        Matching threshold as a fraction of ``diameter`` (default 0.5).
    max_distance : float, optional
        Matching threshold in physical units; overrides ``match_fraction``.
    border : float
        Margin (physical units) excluded from scoring; needs ``canvas_size``.
    canvas_size : int or sequence of 3 ints, optional
        Volume shape (z, y, x) in voxels.
    score : array_like, optional
        One score per prediction, overriding a ``score`` column.
    method : {"hungarian", "greedy"}
        Matching rule for precision/recall/F1 (AP always uses greedy-by-score).
    ap_fractions : sequence of float
        Fractions of ``diameter`` over which AP is averaged.

    Returns
    -------
    Evaluation
        Precision, recall, F1, mean localisation error, counts and AP.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.array([[10.0, 10, 10], [20, 20, 20]])
    >>> pred = np.array([[10.0, 10, 11], [30, 30, 30]])
    >>> ev = evaluate(truth, pred, diameter=4)
    >>> ev.precision, ev.recall, ev.mean_error
    (0.5, 0.5, 1.0)
    """
    d = check_distance(diameter, name="diameter", allow_zero=False)
    _, md = _resolve_distance(d, match_fraction, max_distance)
    fr = _check_fractions(ap_fractions)
    prep = _prepare(truth, pred, score, voxel_size, border, canvas_size)
    pairs = candidate_pairs(prep.truth, prep.pred, md)
    if method == "hungarian":
        ti, pi, dist = hungarian(*pairs)
    elif method == "greedy":
        ti, pi, dist = greedy(*pairs, prep.score)
    else:
        raise ValueError(f"method={method!r} is unknown: expected 'hungarian' or 'greedy'.")
    res = _count(prep, ti, pi, dist, md)
    return Evaluation(
        precision=res.precision,
        recall=res.recall,
        f1=res.f1,
        mean_error=res.mean_error,
        tp=res.tp,
        fp=res.fp,
        fn=res.fn,
        n_truth=res.n_truth,
        n_pred=res.n_pred,
        max_distance=md,
        ap=_ap(prep, d, fr),
    )
