"""Measurements of detections: brightness (mass, signal, background) and volume fraction."""

from __future__ import annotations

from typing import Any

import numpy as np

from voxpick.detect.filters import local_background
from voxpick.detect.maxima import ellipsoid_offsets, ellipsoid_stats
from voxpick.validation import as_triple, check_positions


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


def detected_volume_fraction(
    positions: Any,
    *,
    diameter: Any,
    shape: tuple[int, int, int],
    border: float | None = None,
) -> float:
    """Volume fraction implied by the detections, counted away from the faces.

    Particles whose centres lie more than ``border`` voxels inside every face are counted, each
    as an ellipsoid of the given diameter (voxels, scalar or (z, y, x)), over the inner volume.

    Parameters
    ----------
    positions : array_like or pandas.DataFrame
        ``(N, 3)`` positions (z, y, x) in voxels.
    diameter : float or tuple of 3 float
        Particle diameter in voxels.
    shape : tuple of 3 int
        Volume shape.
    border : float, optional
        Margin in voxels per face; half a diameter per axis by default.

    Returns
    -------
    float
        Detected volume fraction.
    """
    pos = check_positions(positions)
    diam = np.asarray(as_triple(diameter, name="diameter"))
    margin = diam / 2 if border is None else np.full(3, float(border))
    lo = margin - 0.5
    hi = np.asarray(shape, dtype=float) - 0.5 - margin
    if np.any(hi <= lo):
        raise ValueError(
            f"shape={shape} leaves no inner volume after a border of {margin} voxels: "
            "use a smaller border."
        )
    inside = np.all((pos >= lo) & (pos < hi), axis=1)
    particle = np.pi / 6.0 * float(np.prod(diam))
    return float(inside.sum() * particle / np.prod(hi - lo))


def neighbour_correlation(volume: np.ndarray) -> float:
    """Correlation of neighbouring voxels, averaged over the three axes.

    White noise gives 0 (standard error about ``1 / sqrt(volume.size)``); any structure wider
    than a voxel, such as a particle, makes it positive.

    Parameters
    ----------
    volume : numpy.ndarray
        3D image.

    Returns
    -------
    float
        The lag-one autocorrelation coefficient; 0 for a constant volume.
    """
    v = np.asarray(volume, dtype=np.float64)
    v = v - v.mean()
    var = float(np.mean(v * v))
    if var <= 0.0 or v.ndim != 3:
        return 0.0
    lags = [np.mean(np.take(v, range(1, n), axis=a) * np.take(v, range(n - 1), axis=a))
            for a, n in enumerate(v.shape) if n > 1]  # fmt: skip
    return float(np.mean(lags) / var) if lags else 0.0
