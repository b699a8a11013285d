"""Scale normalisation: resample a volume so that a particle spans the model's diameter.

The network is trained at one particle size, :data:`MODEL_DIAMETER` voxels on every axis. A
volume whose particles are ``d = (d_z, d_y, d_x)`` voxels across is resampled by the per-axis
zoom ``MODEL_DIAMETER / d`` (linear interpolation), so one model serves any radius and any
z/xy voxel ratio; detections are mapped back with :func:`from_model_coords`.

Coordinate convention (as everywhere in voxpick): a voxel's centre has integer coordinates and
voxel ``i`` spans ``i - 0.5 .. i + 0.5``. Resampling keeps the outer faces of the volume fixed
(``scipy.ndimage.zoom(..., grid_mode=True)``): with ``n`` input and ``m`` output voxels on an
axis and the effective zoom ``s = m / n``, a point at input coordinate ``p`` sits at model
coordinate ``(p + 0.5) * s - 0.5``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

#: Particle diameter, in voxels on every axis, at which the shipped model was trained.
MODEL_DIAMETER = 8.0

#: Percentiles mapped to 0 and 1 by :func:`normalize_intensity`.
NORM_PERCENTILES = (1.0, 99.5)

Triple = tuple[float, float, float]


def model_shape(shape: Sequence[int], zoom: Sequence[float]) -> tuple[int, int, int]:
    """Shape of ``shape`` resampled by ``zoom`` (at least one voxel per axis).

    Parameters
    ----------
    shape : sequence of 3 int
        Input shape (z, y, x).
    zoom : sequence of 3 float
        Requested zoom per axis.

    Returns
    -------
    tuple of 3 int
    """
    out = tuple(max(1, round(n * z)) for n, z in zip(shape, zoom, strict=True))
    return (int(out[0]), int(out[1]), int(out[2]))


def model_zoom(diameter_px: Sequence[float], model_diameter: float = MODEL_DIAMETER) -> Triple:
    """Per-axis zoom that maps a particle of ``diameter_px`` voxels to ``model_diameter``.

    Parameters
    ----------
    diameter_px : sequence of 3 float
        Particle diameter in voxels, (z, y, x).
    model_diameter : float
        Diameter at model scale.

    Returns
    -------
    tuple of 3 float
    """
    dd = tuple(float(d) for d in diameter_px)
    if len(dd) != 3 or not all(math.isfinite(d) and d > 0 for d in dd):
        raise ValueError(
            f"diameter_px={tuple(diameter_px)!r} is invalid: expected 3 positive finite values."
        )
    return (model_diameter / dd[0], model_diameter / dd[1], model_diameter / dd[2])


def effective_zoom(shape_in: Sequence[int], shape_out: Sequence[int]) -> Triple:
    """Return the zoom applied when resampling ``shape_in`` to ``shape_out`` (``m / n``)."""
    zz = tuple(m / n for n, m in zip(shape_in, shape_out, strict=True))
    return (zz[0], zz[1], zz[2])


def to_model_scale(volume: np.ndarray, zoom: Sequence[float]) -> tuple[np.ndarray, Triple]:
    """Resample ``volume`` by ``zoom`` with linear interpolation (outer faces kept fixed).

    Parameters
    ----------
    volume : numpy.ndarray
        3D volume (z, y, x).
    zoom : sequence of 3 float
        Requested zoom per axis; the output shape is ``round(shape * zoom)``.

    Returns
    -------
    resampled : numpy.ndarray
        float32 volume at model scale.
    zoom : tuple of 3 float
        The effective zoom ``out_shape / in_shape`` to use with :func:`to_model_coords` and
        :func:`from_model_coords`.
    """
    vol = np.asarray(volume, dtype=np.float32)
    shape_out = model_shape(vol.shape, zoom)
    eff = effective_zoom(vol.shape, shape_out)
    if shape_out == vol.shape:
        return vol, eff
    out = ndimage.zoom(vol, eff, order=1, mode="nearest", grid_mode=True, prefilter=False)
    return out.astype(np.float32, copy=False), eff


def to_model_coords(points: np.ndarray, zoom: Sequence[float]) -> np.ndarray:
    """Map ``(N, 3)`` input coordinates to model-scale coordinates (effective zoom)."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    return (pts + 0.5) * np.asarray(zoom, dtype=float) - 0.5


def from_model_coords(points: np.ndarray, zoom: Sequence[float]) -> np.ndarray:
    """Map ``(N, 3)`` model-scale coordinates back to input coordinates (effective zoom)."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    return (pts + 0.5) / np.asarray(zoom, dtype=float) - 0.5


def intensity_range(volume: np.ndarray, max_samples: int = 2_000_000) -> tuple[float, float]:
    """Robust intensity levels: the :data:`NORM_PERCENTILES` of ``volume``.

    Large volumes are sampled on a regular sub-grid (deterministic) for speed.

    Parameters
    ----------
    volume : numpy.ndarray
        Any array.
    max_samples : int
        Largest number of voxels used.

    Returns
    -------
    tuple of float
        ``(low, high)``.
    """
    arr = np.asarray(volume)
    step = max(1, math.ceil((arr.size / max_samples) ** (1.0 / 3.0))) if arr.ndim == 3 else 1
    sample = arr[::step, ::step, ::step] if arr.ndim == 3 else arr
    lo, hi = np.percentile(sample, NORM_PERCENTILES)
    return float(lo), float(hi)


def normalize_intensity(volume: np.ndarray, *, invert: bool = False) -> np.ndarray | None:
    """Map the robust range of ``volume`` to 0..1 (float32); ``None`` for a featureless volume.

    Parameters
    ----------
    volume : numpy.ndarray
        Volume at model scale.
    invert : bool
        Dark particles: the volume is negated first, so particles are always bright.

    Returns
    -------
    numpy.ndarray or None
        ``(v - low) / (high - low)``; ``None`` when the volume is constant (nothing to find).
        When the percentiles coincide (a very sparse volume) the minimum and maximum are used.
    """
    vol = np.asarray(volume, dtype=np.float32)
    if invert:
        vol = -vol
    lo, hi = intensity_range(vol)
    if not hi - lo > 1e-6 * max(1.0, abs(hi), abs(lo)):
        # very sparse volume: fall back to the full range
        lo, hi = float(vol.min()), float(vol.max())
        if not hi - lo > 1e-6 * max(1.0, abs(hi), abs(lo)):
            return None
    span = hi - lo
    return ((vol - np.float32(lo)) * np.float32(1.0 / span)).astype(np.float32, copy=False)
