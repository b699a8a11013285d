"""Brightness of each detection, for every detector: ``mass``, ``signal`` and ``background``."""

from __future__ import annotations

import numpy as np

from voxpick.detect.filters import local_background
from voxpick.detect.maxima import ellipsoid_offsets, ellipsoid_stats


def measure_particles(
    volume: np.ndarray,
    positions: np.ndarray,
    diameter_px: tuple[float, float, float],
    *,
    invert: bool = False,
) -> dict[str, np.ndarray]:
    """Mass, signal and local background of each detection (trackpy's meaning).

    Parameters
    ----------
    volume : numpy.ndarray
        3D volume (z, y, x), float; negated already when ``invert`` (bright particles).
    positions : numpy.ndarray
        ``(N, 3)`` centres, voxels of ``volume``.
    diameter_px : tuple of 3 float
        Particle diameter per axis, voxels.
    invert : bool
        ``volume`` was negated: the background is reported in the original grey levels.

    Returns
    -------
    dict of str to numpy.ndarray
        ``mass`` (brightness above the local background summed over the diameter
        ellipsoid), ``signal`` (mean brightness above it within the central half of the
        diameter) and ``background`` (local level), each ``(N,)``.
    """
    pos = np.asarray(positions, dtype=float).reshape(-1, 3)
    if len(pos) == 0:
        return {k: np.zeros(0) for k in ("mass", "signal", "background")}
    d = diameter_px
    background = local_background(volume, d, pos)
    centres = np.clip(np.rint(pos).astype(np.int64), 0, np.asarray(volume.shape) - 1)
    total, count = ellipsoid_stats(
        volume, centres, ellipsoid_offsets((d[0] / 2, d[1] / 2, d[2] / 2))
    )
    mass = total - background * count
    total, count = ellipsoid_stats(
        volume, centres, ellipsoid_offsets((d[0] / 4, d[1] / 4, d[2] / 4))
    )
    signal = total / np.maximum(count, 1) - background
    return {"mass": mass, "signal": signal, "background": -background if invert else background}
