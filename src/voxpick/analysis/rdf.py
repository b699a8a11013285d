r"""Pair correlation function g(r) of particles seen through a finite box.

The volume is a window, not a periodic box: a particle near a face has fewer neighbours in the
image than in the sample. The estimator here is the **translation (Ohser-Stoyan) estimator**,
which weights every pair by the inverse volume of the set of window translations that keep the
pair inside the window. It is exact for a box, works for any (anisotropic) voxel size and needs
no guard region, so every particle is used:

.. math::

    \hat g(r_k) = \frac{V^2}{N (N - 1)} \sum_{i \ne j,\ |h_{ij}| \in [r_k, r_{k+1})}
    \frac{1}{\gamma_W(h_{ij})\, v_k},
    \qquad \gamma_W(h) = \prod_{a \in z, y, x} (L_a - |h_a|),
    \qquad v_k = \tfrac{4}{3}\pi (r_{k+1}^3 - r_k^3),

where ``h_ij`` is the physical separation vector, ``L_a`` the window edges and ``V`` their
product. For uniformly random points the expectation is exactly 1 at every ``r`` below the
smallest edge. See ``docs/analysis.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from voxpick.validation import as_triple, check_positions

#: Points per block when collecting pairs (bounds memory on large sets).
_CHUNK = 2048


def window_bounds(shape: Any, voxel_size: Any = 1) -> tuple[np.ndarray, np.ndarray]:
    """Physical lower and upper corners of the box covered by a volume.

    Voxel ``i`` spans ``i - 0.5 .. i + 0.5``, so the window is ``-0.5 .. shape - 0.5`` voxels
    on each axis, multiplied by the voxel size.

    Parameters
    ----------
    shape : tuple of 3 int
        Volume shape (z, y, x).
    voxel_size : float or tuple of 3 float
        Voxel size (z, y, x).

    Returns
    -------
    lo, hi : numpy.ndarray
        ``(3,)`` corners in physical units.
    """
    dims = np.asarray(as_triple(shape, name="shape"))
    vs = np.asarray(as_triple(voxel_size, name="voxel_size"))
    return -0.5 * vs, (dims - 0.5) * vs


def physical_positions(
    positions: Any, *, voxel_size: Any = 1, shape: Any = None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Positions in physical units, restricted to the window when a shape is given.

    Parameters
    ----------
    positions : array_like or pandas.DataFrame
        ``(N, 3)`` positions (z, y, x) in voxels.
    voxel_size : float or tuple of 3 float
        Voxel size (z, y, x).
    shape : tuple of 3 int, optional
        Volume shape; points outside its window are dropped.

    Returns
    -------
    pos : numpy.ndarray
        ``(M, 3)`` physical positions.
    lo, hi : numpy.ndarray or None
        Window corners (physical), ``None`` without ``shape``.
    """
    vs = np.asarray(as_triple(voxel_size, name="voxel_size"))
    pos = check_positions(positions) * vs
    if shape is None:
        return pos, None, None
    lo, hi = window_bounds(shape, vs)
    inside = np.all((pos >= lo) & (pos <= hi), axis=1)
    return pos[inside], lo, hi


def pair_vectors(pos: np.ndarray, r_max: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All unordered pairs closer than ``r_max``: indices and separation vectors.

    Parameters
    ----------
    pos : numpy.ndarray
        ``(N, 3)`` physical positions.
    r_max : float
        Largest separation kept (exclusive).

    Returns
    -------
    i, j : numpy.ndarray
        Index arrays with ``i < j``.
    h : numpy.ndarray
        ``(M, 3)`` vectors ``pos[j] - pos[i]``.
    """
    if len(pos) < 2:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros((0, 3))
    tree = cKDTree(pos)
    ii, jj = [], []
    for start in range(0, len(pos), _CHUNK):
        block = cKDTree(pos[start : start + _CHUNK])
        found = block.sparse_distance_matrix(tree, r_max, output_type="ndarray")
        i = found["i"].astype(np.intp) + start
        j = found["j"].astype(np.intp)
        keep = (j > i) & (found["v"] < r_max)
        ii.append(i[keep])
        jj.append(j[keep])
    i_all, j_all = np.concatenate(ii), np.concatenate(jj)
    return i_all, j_all, pos[j_all] - pos[i_all]


def _edges(bins: int | Sequence[float], r_max: float | None, edge_min: float) -> np.ndarray:
    if isinstance(bins, int | np.integer) and not isinstance(bins, bool):
        if bins < 1:
            raise ValueError(f"bins={bins} must be >= 1: pass e.g. bins=100.")
        top = edge_min / 2.0 if r_max is None else float(r_max)
        if not np.isfinite(top) or top <= 0:
            raise ValueError(f"r_max={r_max!r} must be a positive number, e.g. 5 diameters.")
        edges = np.linspace(0.0, top, int(bins) + 1)
    else:
        edges = np.asarray(bins, dtype=float).ravel()
        if edges.size < 2 or np.any(np.diff(edges) <= 0) or edges[0] < 0:
            raise ValueError(
                f"bins={bins!r} is not a valid list of edges: expected at least 2 increasing, "
                "non-negative distances, or an int number of bins."
            )
    if edges[-1] >= edge_min:
        raise ValueError(
            f"r_max={edges[-1]:g} reaches the smallest window edge ({edge_min:g}): the box "
            "cannot contain such pairs. Use r_max below half the smallest edge."
        )
    return edges


def pair_correlation(
    positions: Any,
    *,
    shape: tuple[int, int, int],
    voxel_size: Any = 1,
    r_max: float | None = None,
    bins: int | Sequence[float] = 100,
) -> pd.DataFrame:
    """Radial distribution function g(r) with exact edge correction for a box window.

    Uses the translation estimator (module docstring, ``docs/analysis.md``): every pair at
    separation ``h`` is weighted by ``1 / prod_a (L_a - |h_a|)``, the inverse volume of window
    positions that contain it. Distances are physical (voxels times ``voxel_size``), so
    anisotropic voxels are handled exactly.

    Parameters
    ----------
    positions : array_like or pandas.DataFrame
        ``(N, 3)`` positions (z, y, x) in voxels. Points outside the volume's window
        (``-0.5 .. shape - 0.5`` voxels) are ignored.
    shape : tuple of 3 int
        Shape (z, y, x) of the volume the positions come from: the observation window.
    voxel_size : float or tuple of 3 float
        Voxel size (z, y, x); ``r`` is returned in the same unit.
    r_max : float, optional
        Largest distance, physical units; half the smallest window edge by default. Must stay
        below the smallest edge.
    bins : int or sequence of float
        Number of equal bins over ``0 .. r_max``, or explicit bin edges.

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``r`` (bin centre), ``r_lo``, ``r_hi``, ``g``, ``pairs`` (unordered
        pairs counted) and ``error`` (Poisson counting estimate ``g / sqrt(pairs)``, NaN for
        empty bins; it ignores correlations between pairs sharing a particle, so it
        underestimates the scatter at large ``r``). ``attrs`` holds ``n`` (particles used),
        ``density`` (per physical volume), ``window`` (edge lengths) and ``estimator``.

    Examples
    --------
    >>> import numpy as np
    >>> pts = np.random.default_rng(0).uniform(-0.5, 39.5, size=(800, 3))
    >>> g = pair_correlation(pts, shape=(40, 40, 40), r_max=10, bins=5)
    >>> bool(np.all(np.abs(g["g"] - 1) < 0.2))
    True
    """
    lo, hi = window_bounds(shape, voxel_size)
    pos, _, _ = physical_positions(positions, voxel_size=voxel_size, shape=shape)
    length = hi - lo
    edges = _edges(bins, r_max, float(length.min()))
    n = len(pos)
    volume = float(np.prod(length))
    _, _, h = pair_vectors(pos, float(edges[-1]))
    dist = np.sqrt(np.sum(h * h, axis=1))
    weight = 1.0 / np.prod(length - np.abs(h), axis=1)
    keep = dist >= edges[0]
    counts, _ = np.histogram(dist[keep], bins=edges)
    weighted, _ = np.histogram(dist[keep], bins=edges, weights=weight[keep])
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    if n >= 2:
        g = 2.0 * weighted * volume**2 / (n * (n - 1) * shell)
    else:
        g = np.full(len(shell), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.where(counts > 0, g / np.sqrt(counts), np.nan)
    out = pd.DataFrame(
        {
            "r": 0.5 * (edges[1:] + edges[:-1]),
            "r_lo": edges[:-1],
            "r_hi": edges[1:],
            "g": g,
            "pairs": counts.astype(np.int64),
            "error": error,
        }
    )
    out.attrs.update(
        n=n,
        density=n / volume,
        window=tuple(float(v) for v in length),
        estimator="translation",
    )
    return out


def first_minimum(rdf: pd.DataFrame, *, diameter: float) -> float:
    """Position of the first minimum of g(r) after its first peak.

    The peak is the largest g in ``0.8 .. 1.3`` diameters; the minimum is the smallest
    (3-bin smoothed) g within 0.8 diameters beyond the peak. Used as the default neighbour
    cutoff of the report (about 1.4 diameters for a dense hard-sphere fluid).

    Parameters
    ----------
    rdf : pandas.DataFrame
        Output of :func:`pair_correlation`.
    diameter : float
        Particle diameter, same unit as ``rdf["r"]``.

    Returns
    -------
    float
        ``r`` of the minimum; NaN when g(r) does not cover the range or has no peak.
    """
    if not {"r", "g"} <= set(rdf.columns):
        raise ValueError(
            f"rdf has columns {list(rdf.columns)}: expected 'r' and 'g' "
            "(the output of voxpick.analysis.pair_correlation)."
        )
    if not (np.isfinite(diameter) and diameter > 0):
        raise ValueError(f"diameter={diameter!r} must be a positive number.")
    r = rdf["r"].to_numpy(dtype=float)
    g = np.nan_to_num(rdf["g"].to_numpy(dtype=float))
    smooth = np.convolve(g, np.ones(3) / 3.0, mode="same")
    near = (r >= 0.8 * diameter) & (r <= 1.3 * diameter)
    if not near.any() or r[-1] < 1.5 * diameter:
        return float("nan")
    peak = int(np.flatnonzero(near)[np.argmax(g[near])])
    if g[peak] <= 1.0:
        return float("nan")
    after = np.flatnonzero((r > r[peak]) & (r <= r[peak] + 0.8 * diameter))
    if after.size == 0:
        return float("nan")
    return float(r[after[np.argmin(smooth[after])]])
