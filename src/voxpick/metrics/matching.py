"""One-to-one matching of predicted positions to true positions within a distance.

Candidate pairs are found with a KD-tree; a pair is a candidate when its Euclidean distance, in
physical units (voxel coordinates multiplied by ``voxel_size`` per axis), is ``<= max_distance``.
Two matching rules are offered:

``"hungarian"``
    The matching with the largest number of pairs, and among those the smallest total distance
    (:func:`scipy.optimize.linear_sum_assignment`, solved independently on each connected
    component of the candidate graph so that memory stays proportional to the number of pairs).
``"greedy"``
    Predictions are visited by descending score; each takes the nearest still-unmatched truth
    point within ``max_distance`` (COCO style). Without scores, all candidate pairs are visited by
    ascending distance. Remaining ties are broken by prediction index, then truth index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from voxpick.validation import as_triple, check_positions

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: Matching rules accepted by :func:`match_points`.
MATCH_METHODS: tuple[str, ...] = ("hungarian", "greedy")


@dataclass(frozen=True)
class MatchResult:
    """Outcome of a one-to-one matching.

    Attributes
    ----------
    truth_index, pred_index : numpy.ndarray
        Row indices of the matched pairs into the truth and prediction arrays (same length).
    distance : numpy.ndarray
        Distance of each matched pair, in physical units.
    n_truth, n_pred : int
        Number of truth points and predictions taken into account.
    max_distance : float
        Matching threshold used, in physical units.
    """

    truth_index: IntArray
    pred_index: IntArray
    distance: FloatArray
    n_truth: int
    n_pred: int
    max_distance: float

    @property
    def tp(self) -> int:
        """Number of matched pairs (true positives)."""
        return len(self.truth_index)

    @property
    def fp(self) -> int:
        """Predictions left unmatched (false positives)."""
        return self.n_pred - self.tp

    @property
    def fn(self) -> int:
        """Truth points left unmatched (false negatives)."""
        return self.n_truth - self.tp

    @property
    def precision(self) -> float:
        """``tp / n_pred``; 0 when there are no predictions."""
        return self.tp / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        """``tp / n_truth``; 0 when there is no truth point."""
        return self.tp / self.n_truth if self.n_truth else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall; 0 when both are 0."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    @property
    def mean_error(self) -> float:
        """Mean distance of the matched pairs (physical units); NaN when nothing matched."""
        return float(self.distance.mean()) if self.tp else float("nan")


def as_points(data: Any, *, name: str) -> FloatArray:
    """Validate positions given as an ``(N, 3)`` array or a DataFrame with ``z, y, x`` columns.

    Parameters
    ----------
    data : array_like or pandas.DataFrame
        Points in (z, y, x) voxel coordinates.
    name : str
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` float64.
    """
    return check_positions(data, name=name)


def as_scores(data: Any, score: Any, n: int, *, name: str = "score") -> FloatArray | None:
    """Return the detection scores from ``score`` or from a ``score`` column of ``data``.

    Parameters
    ----------
    data : array_like or pandas.DataFrame
        The predictions; used only when ``score`` is None and ``data`` has a ``score`` column.
    score : array_like or None
        Explicit scores, one per prediction (takes precedence over the column).
    n : int
        Number of predictions.
    name : str
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray or None
        ``(n,)`` float64 scores (higher = more confident), or None when no score is available.
    """
    if score is None and hasattr(data, "columns") and "score" in data.columns:
        score = data["score"].to_numpy()
    if score is None:
        return None
    arr = np.asarray(score, dtype=float)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(
            f"{name} has shape {arr.shape}: expected one score per prediction, shape ({n},)."
        )
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} contains NaN or infinite values: expected finite scores. "
            "Drop those predictions or replace the scores first."
        )
    return arr


def check_distance(value: Any, *, name: str, allow_zero: bool = True) -> float:
    """Validate a non-negative (or positive) finite distance.

    Parameters
    ----------
    value : float
        Candidate value.
    name : str
        Argument name used in error messages.
    allow_zero : bool
        Accept 0.

    Returns
    -------
    float
    """
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name}={value!r} is not a number: expected a finite float.")
    out = float(value)
    if not np.isfinite(out) or out < 0 or (out == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={value!r} is invalid: expected a finite number {bound}.")
    return out


def scale(points: FloatArray, voxel_size: Any) -> FloatArray:
    """Convert (z, y, x) voxel coordinates to physical units.

    Parameters
    ----------
    points : numpy.ndarray
        ``(N, 3)`` voxel coordinates.
    voxel_size : float or sequence of 3 floats
        Size of a voxel along (z, y, x).

    Returns
    -------
    numpy.ndarray
        ``points * voxel_size``.
    """
    return points * np.asarray(as_triple(voxel_size, name="voxel_size"))


def candidate_pairs(
    truth: FloatArray, pred: FloatArray, max_distance: float
) -> tuple[IntArray, IntArray, FloatArray]:
    """All (truth, prediction) pairs closer than or exactly at ``max_distance``.

    Parameters
    ----------
    truth, pred : numpy.ndarray
        ``(N, 3)`` and ``(M, 3)`` coordinates (already in the units of ``max_distance``).
    max_distance : float
        Inclusive distance threshold.

    Returns
    -------
    truth_index, pred_index : numpy.ndarray
        Pair indices, sorted by prediction index then truth index.
    distance : numpy.ndarray
        Euclidean distances, computed as ``sqrt(dz**2 + dy**2 + dx**2)``.
    """
    empty = (np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0))
    if len(truth) == 0 or len(pred) == 0:
        return empty
    # Query slightly wide, then apply the exact test on distances computed here.
    radius = max_distance * (1 + 1e-9) + 1e-12
    hits = cKDTree(truth).query_ball_point(pred, r=radius)
    counts = np.fromiter((len(h) for h in hits), dtype=np.intp, count=len(pred))
    if counts.sum() == 0:
        return empty
    p_idx = np.repeat(np.arange(len(pred), dtype=np.intp), counts)
    t_idx = np.concatenate([np.asarray(h, dtype=np.intp) for h in hits if len(h)])
    order = np.lexsort((t_idx, p_idx))
    t_idx, p_idx = t_idx[order], p_idx[order]
    dist = np.sqrt(np.sum((truth[t_idx] - pred[p_idx]) ** 2, axis=1))
    keep = dist <= max_distance
    return t_idx[keep], p_idx[keep], dist[keep]


def hungarian(
    t_idx: IntArray, p_idx: IntArray, dist: FloatArray
) -> tuple[IntArray, IntArray, FloatArray]:
    """Maximum-cardinality, then minimum-total-distance matching of candidate pairs.

    Parameters
    ----------
    t_idx, p_idx, dist : numpy.ndarray
        Candidate pairs as returned by :func:`candidate_pairs`.

    Returns
    -------
    truth_index, pred_index, distance : numpy.ndarray
        The selected pairs, sorted by truth index.
    """
    if len(dist) == 0:
        return t_idx, p_idx, dist
    # Relabel the points that take part in a pair, then split the bipartite graph into components.
    t_nodes, t_local = np.unique(t_idx, return_inverse=True)
    p_nodes, p_local = np.unique(p_idx, return_inverse=True)
    n_t = len(t_nodes)
    graph = coo_matrix(
        (np.ones(len(dist)), (t_local, p_local + n_t)), shape=(n_t + len(p_nodes),) * 2
    )
    _, labels = connected_components(graph, directed=False)
    comp = labels[t_local]
    pairs_per_comp = np.bincount(comp)
    single = pairs_per_comp[comp] == 1
    keep = [np.flatnonzero(single)]
    multi = np.flatnonzero(~single)
    order = multi[np.argsort(comp[multi], kind="stable")]
    bounds = np.flatnonzero(np.diff(comp[order])) + 1
    for group in np.split(order, bounds) if len(order) else []:
        rows, row_of = np.unique(t_local[group], return_inverse=True)
        cols, col_of = np.unique(p_local[group], return_inverse=True)
        d = dist[group]
        # A non-candidate costs more than any set of candidate pairs, so the number of real
        # pairs is maximised first and the total distance second.
        big = (min(len(rows), len(cols)) + 1) * (float(d.max()) + 1.0)
        cost = np.full((len(rows), len(cols)), big)
        pair_id = np.full((len(rows), len(cols)), -1, dtype=np.intp)
        cost[row_of, col_of] = d
        pair_id[row_of, col_of] = group
        r, c = linear_sum_assignment(cost)
        chosen = pair_id[r, c]
        keep.append(chosen[chosen >= 0])
    sel = np.concatenate(keep)
    sel = sel[np.argsort(t_idx[sel], kind="stable")]
    return t_idx[sel], p_idx[sel], dist[sel]


def greedy(
    t_idx: IntArray, p_idx: IntArray, dist: FloatArray, score: FloatArray | None
) -> tuple[IntArray, IntArray, FloatArray]:
    """Greedy one-to-one matching: by descending score, then ascending distance.

    Parameters
    ----------
    t_idx, p_idx, dist : numpy.ndarray
        Candidate pairs as returned by :func:`candidate_pairs`.
    score : numpy.ndarray or None
        Score of every prediction (indexed by ``p_idx``), or None to order by distance only.

    Returns
    -------
    truth_index, pred_index, distance : numpy.ndarray
        The selected pairs, in the order they were accepted.
    """
    if len(dist) == 0:
        return t_idx, p_idx, dist
    keys: tuple[np.ndarray, ...] = (t_idx, p_idx, dist)
    if score is not None:
        keys = (*keys, -score[p_idx])
    order = np.lexsort(keys)
    taken_t: set[int] = set()
    taken_p: set[int] = set()
    chosen: list[int] = []
    for k, t, p in zip(order.tolist(), t_idx[order].tolist(), p_idx[order].tolist(), strict=True):
        if t in taken_t or p in taken_p:
            continue
        taken_t.add(t)
        taken_p.add(p)
        chosen.append(k)
    sel = np.asarray(chosen, dtype=np.intp)
    return t_idx[sel], p_idx[sel], dist[sel]


def match_points(
    truth: Any,
    pred: Any,
    *,
    max_distance: float,
    voxel_size: Any = 1,
    score: Any = None,
    method: str = "hungarian",
) -> MatchResult:
    """Match predictions to truth points one-to-one within ``max_distance``.

    Parameters
    ----------
    truth, pred : array_like or pandas.DataFrame
        ``(N, 3)`` arrays in (z, y, x) voxel coordinates, or DataFrames with ``z, y, x`` columns
        (``pred`` may carry a ``score`` column).
    max_distance : float
        Inclusive matching threshold in physical units (a pair at exactly this distance matches).
    voxel_size : float or sequence of 3 floats
        Voxel size along (z, y, x); coordinates are multiplied by it before measuring distances.
    score : array_like, optional
        One score per prediction (overrides a ``score`` column). Used by ``method="greedy"``.
    method : {"hungarian", "greedy"}
        Matching rule; see the module documentation.

    Returns
    -------
    MatchResult
        Matched indices, distances and the tp/fp/fn counts.

    Examples
    --------
    >>> import numpy as np
    >>> res = match_points(np.array([[0, 0, 0]]), np.array([[0, 0, 1.0]]), max_distance=1.0)
    >>> res.tp, res.fp, res.fn
    (1, 0, 0)
    """
    t = as_points(truth, name="truth")
    p = as_points(pred, name="pred")
    s = as_scores(pred, score, len(p))
    md = check_distance(max_distance, name="max_distance")
    if method not in MATCH_METHODS:
        raise ValueError(f"method={method!r} is unknown: expected one of {MATCH_METHODS}.")
    ti, pi, d = candidate_pairs(scale(t, voxel_size), scale(p, voxel_size), md)
    ti, pi, d = hungarian(ti, pi, d) if method == "hungarian" else greedy(ti, pi, d, s)
    return MatchResult(ti, pi, d, len(t), len(p), md)
