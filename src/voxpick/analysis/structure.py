"""Simple structural statistics of detected positions (no truth needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from voxpick.validation import as_triple, check_positions


def _physical(positions: Any, voxel_size: Any) -> np.ndarray:
    pos = check_positions(positions)
    return pos * np.asarray(as_triple(voxel_size, name="voxel_size"))


def nearest_neighbour_distances(positions: Any, *, voxel_size: Any = 1) -> np.ndarray:
    """Distance from each particle to its nearest neighbour, in physical units.

    Parameters
    ----------
    positions : array_like or pandas.DataFrame
        ``(N, 3)`` positions (z, y, x) in voxels.
    voxel_size : float or tuple of 3 float
        Voxel size (z, y, x).

    Returns
    -------
    numpy.ndarray
        ``(N,)`` distances; empty when fewer than two particles.
    """
    pos = _physical(positions, voxel_size)
    if len(pos) < 2:
        return np.zeros(0)
    d, _ = cKDTree(pos).query(pos, k=2)
    return d[:, 1]


def close_pairs(positions: Any, *, min_distance: float, voxel_size: Any = 1) -> np.ndarray:
    """Pairs of particles closer than ``min_distance`` (physical units): likely duplicates.

    Parameters
    ----------
    positions : array_like or pandas.DataFrame
        ``(N, 3)`` positions (z, y, x) in voxels.
    min_distance : float
        Distance below which two detections cannot both be real particles, e.g. 0.8 diameter.
    voxel_size : float or tuple of 3 float
        Voxel size (z, y, x).

    Returns
    -------
    numpy.ndarray
        ``(M, 2)`` index pairs ``i < j``.
    """
    pos = _physical(positions, voxel_size)
    if len(pos) < 2:
        return np.zeros((0, 2), dtype=int)
    return cKDTree(pos).query_pairs(min_distance, output_type="ndarray")
