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


def detections_per_plane(positions: Any, *, shape: Any) -> np.ndarray:
    """Count the detections centred in each z plane: bands (a coverslip, a bright layer) stand out.

    Parameters
    ----------
    positions : array_like or pandas.DataFrame
        ``(N, 3)`` positions (z, y, x) in voxels.
    shape : sequence of int
        Volume shape (z, y, x); only ``shape[0]`` is used.

    Returns
    -------
    numpy.ndarray
        ``(shape[0],)`` counts: plane ``k`` holds the detections with ``round(z) == k``
        (centres beyond the faces count in the first or last plane).

    Examples
    --------
    >>> detections_per_plane([[0.2, 5, 5], [0.6, 1, 1], [2.4, 3, 3]], shape=(4, 8, 8)).tolist()
    [1, 1, 1, 0]
    """
    pos = check_positions(positions)
    nz = int(shape[0])
    if nz < 1:
        raise ValueError(f"shape={tuple(shape)!r} has no z plane: expected shape[0] >= 1.")
    planes = np.clip(np.rint(pos[:, 0]).astype(int), 0, nz - 1)
    return np.bincount(planes, minlength=nz)


def isotropic_scale(diameter: Any, voxel_size: Any) -> tuple[float, tuple[float, float, float]]:
    """Return one diameter and the voxel size in which a (z, y, x) diameter becomes a sphere.

    A (z, y, x) diameter (particles stretched along z by the PSF, say) is read as in
    :func:`voxpick.analysis.neighbour_ratios`: distances are rescaled per axis so that a particle
    is a sphere of the smallest of the three diameters (the lateral one for a z-elongated PSF).
    A single diameter leaves the voxel size as it is.

    Parameters
    ----------
    diameter : float or sequence of 3 float
        Particle diameter, units of ``voxel_size``.
    voxel_size : float or sequence of 3 float
        Voxel size (z, y, x).

    Returns
    -------
    diameter : float
        The sphere's diameter.
    voxel_size : tuple of 3 float
        The rescaled voxel size (z, y, x).

    Examples
    --------
    >>> isotropic_scale((20.0, 10.0, 10.0), 1.0)
    (10.0, (0.5, 1.0, 1.0))
    """
    vs = as_triple(voxel_size, name="voxel_size")
    try:
        d = as_triple(diameter, name="diameter")
    except (TypeError, ValueError):
        raise ValueError(
            f"diameter={diameter!r} must be a positive number or (z, y, x) triple (units of "
            "voxel_size), e.g. 8 or (10, 8, 8)."
        ) from None
    ref = min(d)
    scaled = (vs[0] * ref / d[0], vs[1] * ref / d[1], vs[2] * ref / d[2])
    return ref, scaled


#: A z plane holding more than this many times the mean count of detections per plane, and more
#: than :data:`BAND_SIGMAS` Poisson standard deviations above it, is reported as a band (a
#: coverslip or a bright layer: the classical detector's weak peaks along it).
BAND_FACTOR = 2.0
BAND_SIGMAS = 5.0


def z_bands(counts: np.ndarray) -> list[int]:
    """Return the z planes holding far more detections than the mean plane.

    Parameters
    ----------
    counts : numpy.ndarray
        Detections per z plane (:func:`voxpick.analysis.detections_per_plane`).

    Returns
    -------
    list of int
        Planes above :data:`BAND_FACTOR` times the mean and :data:`BAND_SIGMAS` Poisson
        standard deviations above it.

    Examples
    --------
    >>> z_bands(np.array([16, 1, 1, 2, 0, 1, 1, 2, 1, 1]))
    [0]
    """
    mean = float(np.mean(counts)) if len(counts) else 0.0
    if mean <= 0:
        return []
    level = max(BAND_FACTOR * mean, mean + BAND_SIGMAS * np.sqrt(mean))
    return [int(k) for k in np.flatnonzero(counts > level)]
