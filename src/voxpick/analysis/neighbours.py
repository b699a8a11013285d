"""Neighbour counts and overlapping pairs of detected particles."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from voxpick.analysis.rdf import pair_vectors, window_bounds
from voxpick.analysis.structure import close_pairs
from voxpick.validation import as_triple, check_positions

#: Default neighbour cutoff in diameters: the first minimum of g(r) of a dense hard-sphere
#: fluid lies at 1.35-1.45 diameters.
DEFAULT_CUTOFF_DIAMETERS = 1.4


def _positive(value: Any, *, name: str, hint: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}={value!r} is not a number: expected {hint}.") from None
    if not (np.isfinite(out) and out > 0):
        raise ValueError(f"{name}={value!r} must be a positive finite number: expected {hint}.")
    return out


def away_from_faces(
    positions: np.ndarray, reach: np.ndarray | float, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Which physical positions lie at least ``reach`` from every face of the window.

    Parameters
    ----------
    positions : numpy.ndarray
        ``(N, 3)`` physical positions.
    reach : float or numpy.ndarray
        Distance (scalar or one per particle).
    lo, hi : numpy.ndarray
        Window corners.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` booleans.
    """
    r = np.asarray(reach, dtype=float).reshape(-1, 1)
    return np.all((positions - lo >= r) & (hi - positions >= r), axis=1)


def coordination_numbers(
    positions: Any,
    *,
    diameter: float | None = None,
    cutoff: float | None = None,
    voxel_size: Any = 1,
    shape: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """Count the neighbours of each particle within a cutoff distance.

    Parameters
    ----------
    positions : array_like or pandas.DataFrame
        ``(N, 3)`` positions (z, y, x) in voxels.
    diameter : float, optional
        Particle diameter, physical units; sets the default cutoff.
    cutoff : float, optional
        Neighbour distance, physical units. Default ``1.4 * diameter``
        (:data:`DEFAULT_CUTOFF_DIAMETERS`, the first minimum of g(r) of a dense hard-sphere
        fluid); pass :func:`voxpick.analysis.first_minimum` of your own g(r) to follow the data.
    voxel_size : float or tuple of 3 float
        Voxel size (z, y, x).
    shape : tuple of 3 int, optional
        Volume shape. When given, particles closer than ``cutoff`` to a face, whose
        neighbourhood is cut by the window, get NaN (use ``numpy.nanmean``).

    Returns
    -------
    numpy.ndarray
        ``(N,)`` float counts (NaN near the faces when ``shape`` is given), in input order.
    """
    if cutoff is None:
        if diameter is None:
            raise ValueError(
                "coordination_numbers needs cutoff= or diameter=: pass the particle diameter "
                "(cutoff 1.4 diameters) or an explicit cutoff distance."
            )
        cut = DEFAULT_CUTOFF_DIAMETERS * _positive(
            diameter, name="diameter", hint="the particle diameter in physical units"
        )
    else:
        cut = _positive(cutoff, name="cutoff", hint="a neighbour distance in physical units")
    vs = np.asarray(as_triple(voxel_size, name="voxel_size"))
    pos = check_positions(positions) * vs
    i, j, _ = pair_vectors(pos, cut)
    counts = np.bincount(np.concatenate([i, j]), minlength=len(pos)).astype(float)
    if shape is not None:
        lo, hi = window_bounds(shape, vs)
        counts[~away_from_faces(pos, cut, lo, hi)] = np.nan
    return counts


def overlap_report(
    positions: Any,
    *,
    diameter: float,
    fraction: float = 0.8,
    voxel_size: Any = 1,
) -> pd.DataFrame:
    """Pairs of detections closer than ``fraction`` of a diameter: duplicates or overlaps.

    Hard particles cannot be closer than one diameter; detections much closer than that are
    usually one particle found twice, or two merged. Built on
    :func:`voxpick.analysis.close_pairs`.

    Parameters
    ----------
    positions : array_like or pandas.DataFrame
        ``(N, 3)`` positions (z, y, x) in voxels.
    diameter : float
        Particle diameter, physical units.
    fraction : float
        Pairs closer than ``fraction * diameter`` are reported (default 0.8).
    voxel_size : float or tuple of 3 float
        Voxel size (z, y, x).

    Returns
    -------
    pandas.DataFrame
        Columns ``i``, ``j`` (row positions, ``i < j``), ``distance`` (physical) and
        ``overlap`` (``1 - distance / diameter``), closest pairs first.
    """
    d = _positive(diameter, name="diameter", hint="the particle diameter in physical units")
    f = _positive(fraction, name="fraction", hint="a fraction of the diameter, e.g. 0.8")
    pairs = close_pairs(positions, min_distance=f * d, voxel_size=voxel_size)
    pos = check_positions(positions) * np.asarray(as_triple(voxel_size, name="voxel_size"))
    dist = np.linalg.norm(pos[pairs[:, 1]] - pos[pairs[:, 0]], axis=1) if len(pairs) else []
    out = pd.DataFrame(
        {
            "i": np.asarray(pairs[:, 0], dtype=np.int64),
            "j": np.asarray(pairs[:, 1], dtype=np.int64),
            "distance": np.asarray(dist, dtype=float),
        }
    )
    out["overlap"] = 1.0 - out["distance"] / d
    return out.sort_values("distance", kind="stable").reset_index(drop=True)
