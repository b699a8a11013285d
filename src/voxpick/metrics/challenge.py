"""The colloid challenge's average precision, reproduced exactly (kept for comparability).

This re-implements the scoring rule of the published colloid detection challenge
(colloidoscope) so that numbers reported by voxpick can be compared with the leaderboard. The
rule, for one volume, is:

1. Border removal: truth points and predictions outside ``[diameter/2, size - diameter/2]``
   (inclusive) along any axis are dropped. Axes are (z, y, x) and ``size`` is ``canvas_size``.
2. At a threshold ``t``, a (prediction, truth) pair is a candidate when
   ``max(0, 1 - dist / diameter) > t`` (strict), ``dist`` the Euclidean distance in voxels.
3. Candidates are sorted by that value in descending order (``numpy.argsort`` of the values in
   (prediction, truth) order, reversed, exactly as the scorer does, so ties break the same way)
   and accepted greedily when neither point is matched yet.
4. ``precision = tp / (tp + fp)``, ``recall = tp / (tp + fn)``, each 0 when undefined.
5. Thresholds are ``numpy.linspace(0, 1, 10)``; the recalls array is reversed and
   ``ap = trapezoid(precisions, x=reversed_recalls)``.

Step 5 is a quirk of the original: precision at threshold ``i`` is paired with the recall at
threshold ``9 - i``. It is reproduced literally. The clean metric in
:mod:`voxpick.metrics.clean` is preferred for anything but leaderboard comparison.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from voxpick.metrics.matching import FloatArray, as_points, candidate_pairs, check_distance
from voxpick.validation import as_triple

#: The ten thresholds of the challenge, ``numpy.linspace(0, 1, 10)``.
CHALLENGE_THRESHOLDS: FloatArray = np.linspace(0, 1, 10)


def _check(
    truth: Any, pred: Any, diameter: Any, canvas_size: Any
) -> tuple[FloatArray, FloatArray, float]:
    t = as_points(truth, name="truth")
    p = as_points(pred, name="pred")
    d = check_distance(diameter, name="diameter", allow_zero=False)
    canvas = np.asarray(as_triple(canvas_size, name="canvas_size"))
    pad = d / 2

    def inside(points: FloatArray) -> FloatArray:
        keep = np.all((points >= pad) & (points <= canvas - pad), axis=1)
        return points[keep]

    return inside(t), inside(p), d


class _Pairs:
    """Candidate pairs of one volume, shared by all thresholds."""

    def __init__(self, truth: FloatArray, pred: FloatArray, diameter: float) -> None:
        self.n_truth = len(truth)
        self.n_pred = len(pred)
        # iou > t >= 0 needs dist < diameter; candidate_pairs returns (pred, truth) order.
        t_idx, p_idx, dist = candidate_pairs(truth, pred, diameter)
        iou = 1 - dist / diameter
        iou[iou < 0] = 0
        self.t_idx, self.p_idx, self.iou = t_idx, p_idx, iou

    def counts(self, threshold: float) -> tuple[int, int, int]:
        if self.n_pred == 0:
            return 0, 0, self.n_truth
        if self.n_truth == 0:
            return 0, self.n_pred, 0
        keep = self.iou > threshold
        iou, t_idx, p_idx = self.iou[keep], self.t_idx[keep], self.p_idx[keep]
        order = np.argsort(iou)[::-1]
        taken_t: set[int] = set()
        taken_p: set[int] = set()
        for t, p in zip(t_idx[order].tolist(), p_idx[order].tolist(), strict=True):
            if t not in taken_t and p not in taken_p:
                taken_t.add(t)
                taken_p.add(p)
        tp = len(taken_t)
        return tp, self.n_pred - tp, self.n_truth - tp


def _ratios(tp: int, fp: int, fn: int) -> tuple[float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision, recall


def challenge_precision_recall(
    truth: Any, pred: Any, *, diameter: float, threshold: float, canvas_size: Any
) -> tuple[float, float]:
    """Precision and recall at one threshold, as the colloid challenge computes them.

    Parameters
    ----------
    truth, pred : array_like or pandas.DataFrame
        ``(N, 3)`` positions in (z, y, x) voxels, or DataFrames with ``z, y, x`` columns.
    diameter : float
        Particle diameter in voxels.
    threshold : float
        A pair may match when ``1 - dist / diameter > threshold``.
    canvas_size : int or sequence of 3 ints
        Volume shape (z, y, x) in voxels; points outside ``[diameter/2, size - diameter/2]`` are
        dropped first.

    Returns
    -------
    tuple of float
        ``(precision, recall)``, each 0 when undefined.
    """
    if isinstance(threshold, bool) or not isinstance(
        threshold, int | float | np.integer | np.floating
    ):
        raise TypeError(f"threshold={threshold!r} is not a number: expected a float in [0, 1].")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold={threshold!r} is not finite: expected a float in [0, 1].")
    t, p, d = _check(truth, pred, diameter, canvas_size)
    return _ratios(*_Pairs(t, p, d).counts(float(threshold)))


def trapezoid(y: Any, x: Any) -> float:
    """Trapezoidal integral of ``y`` over ``x``, the same formula as ``numpy.trapezoid``.

    Parameters
    ----------
    y, x : array_like
        Samples and their abscissae (same length, any order).

    Returns
    -------
    float
        ``sum(diff(x) * (y[1:] + y[:-1]) / 2)``.
    """
    ya = np.asarray(y, dtype=float)
    xa = np.asarray(x, dtype=float)
    return float(np.add.reduce(np.diff(xa) * (ya[1:] + ya[:-1]) / 2.0))


def challenge_ap(
    truth: Any, pred: Any, *, diameter: float, canvas_size: Any
) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """Average precision exactly as the colloid challenge's published scorer computes it.

    Kept for comparability with the challenge leaderboard; prefer
    :func:`voxpick.metrics.evaluate` / :func:`voxpick.metrics.average_precision` otherwise
    (see ``docs/metrics.md``: this AP is not an area under a PR curve).

    Parameters
    ----------
    truth, pred : array_like or pandas.DataFrame
        ``(N, 3)`` positions in (z, y, x) voxels, or DataFrames with ``z, y, x`` columns.
        Scores are ignored.
    diameter : float
        Particle diameter in voxels.
    canvas_size : int or sequence of 3 ints
        Volume shape (z, y, x) in voxels.

    Returns
    -------
    ap : float
        ``trapezoid(precisions, x=recalls)`` with the arrays below.
    precisions : numpy.ndarray
        Precision at each threshold of :data:`CHALLENGE_THRESHOLDS`, in threshold order.
    recalls : numpy.ndarray
        Recall at each threshold, **reversed** as the scorer returns it: ``recalls[i]`` is the
        recall at threshold ``9 - i``.

    Examples
    --------
    >>> import numpy as np
    >>> pts = np.array([[10.0, 10, 10], [20, 20, 20]])
    >>> ap, p, r = challenge_ap(pts, pts, diameter=6, canvas_size=32)
    >>> round(ap, 6)
    1.0
    """
    t, p, d = _check(truth, pred, diameter, canvas_size)
    pairs = _Pairs(t, p, d)
    pr = [_ratios(*pairs.counts(float(th))) for th in CHALLENGE_THRESHOLDS]
    precisions = np.array([x[0] for x in pr], dtype=float)
    recalls = np.array([x[1] for x in pr], dtype=float)[::-1].copy()
    return trapezoid(precisions, recalls), precisions, recalls
