"""Global parameters of a chunked run: estimated once for the whole volume, fixed in every block.

The classical detector estimates the noise level, the extra z blur and the score threshold
from the volume it is given. Run block by block, each block would get its own estimates and
the same particle could pass in one block and fail in the next. So the chunked runner:

- measures the **noise** on the same sample the whole-volume detector uses (every
  ``step``-th z slice, about 2e5 voxels), and the **z blur** on the same central crop
  (at most 96 voxels per axis), so both equal the whole-volume estimates;
- runs every block with these values, ``min_relative=0`` and, unless a ``threshold`` was given,
  the lowest automatic threshold (:data:`~voxpick.detect.classical.MIN_AUTO_THRESHOLD`), so each
  block returns every candidate the whole-volume detector would consider;
- after merging, picks the **automatic threshold** from all candidates of the whole volume
  and applies ``min_relative`` against the typical particle of the whole volume, exactly as the
  whole-volume detector does (:func:`finish_classical`).

The halo a block needs (:func:`classical_context`) follows from the filter: the LoG reaches
about six Gaussian sigmas, the Wiener z deconvolution decays over about sixteen z-blur sigmas,
and the local background uses about 4.5 background cells of half a diameter on each side.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from voxpick.detect.classical import (
    DEFAULT_FILTER_SCALE,
    DEFAULT_MIN_RELATIVE,
    MIN_AUTO_THRESHOLD,
    WIENER,
    auto_threshold,
    face_factor,
    filter_sigma,
    locate_classical,
    typical_height,
)
from voxpick.detect.filters import (
    NOISE_SAMPLE_VOXELS,
    estimate_noise,
    estimate_z_blur,
    log_filter,
)
from voxpick.tiling.source import VolumeSource

#: Edge of the central crop on which the z blur is measured (see ``estimate_z_blur``).
Z_BLUR_CROP = 96

#: Reach of the LoG band-pass in Gaussian sigmas.
LOG_REACH = 6.0

#: Reach of the Wiener z deconvolution in z-blur sigmas.
WIENER_REACH = 16.0

#: Reach of the local-background estimate in background cells (half a diameter each).
BACKGROUND_REACH = 4.5


def background_cell(diameter_px: tuple[float, float, float]) -> tuple[int, int, int]:
    """Edge of the classical detector's local-background cells, voxels (half a diameter).

    Blocks start on multiples of it so that their cells line up with the whole volume's.

    Parameters
    ----------
    diameter_px : tuple of 3 float
        Particle diameter per axis, voxels.

    Returns
    -------
    tuple of 3 int
    """
    f = [max(1, int(d // 2)) for d in diameter_px]
    return (f[0], f[1], f[2])


def classical_context(
    diameter_px: tuple[float, float, float], *, filter_scale: float, z_blur: float
) -> tuple[int, int, int]:
    """Halo (voxels per axis) beyond which the classical detector's numbers no longer change.

    Parameters
    ----------
    diameter_px : tuple of 3 float
        Particle diameter per axis, voxels.
    filter_scale : float
        LoG scale as a fraction of the radius.
    z_blur : float
        Extra z blur (Gaussian sigma, voxels) that is deconvolved.

    Returns
    -------
    tuple of 3 int
        At least one diameter plus the filter's reach; about 2.25 diameters + 2 by default.
    """
    cell = background_cell(diameter_px)
    halo = []
    for axis, d in enumerate(diameter_px):
        reach = LOG_REACH * filter_scale * d / 2.0 + 2.0
        if axis == 0:
            reach += WIENER_REACH * z_blur
        background = BACKGROUND_REACH * cell[axis] + 2.0
        halo.append(math.ceil(max(reach, background, d + 2.0)))
    return (halo[0], halo[1], halo[2])


def unet_context(diameter_px: tuple[float, float, float]) -> tuple[int, int, int]:
    """Halo of the U-Net: its own tile margin (two diameters) plus half a diameter and 4 voxels.

    Parameters
    ----------
    diameter_px : tuple of 3 float
        Particle diameter per axis, voxels.

    Returns
    -------
    tuple of 3 int
    """
    h = [math.ceil(2.5 * d + 4.0) for d in diameter_px]
    return (h[0], h[1], h[2])


def noise_sample(source: VolumeSource) -> np.ndarray:
    """Read every ``step``-th z slice, as the whole-volume noise estimate samples it (float32).

    Parameters
    ----------
    source : VolumeSource
        The volume.

    Returns
    -------
    numpy.ndarray
    """
    nz = source.shape[0]
    size = int(np.prod(source.shape))
    step = max(1, size // NOISE_SAMPLE_VOXELS)
    step = min(step, max(1, nz // 4))
    sub = source.read((slice(None, None, step), slice(None), slice(None)))
    return sub.astype(np.float32)


def central_crop(source: VolumeSource, edge: int = Z_BLUR_CROP) -> np.ndarray:
    """Read the central crop (at most ``edge`` voxels per axis) the z-blur estimate uses.

    Parameters
    ----------
    source : VolumeSource
        The volume.
    edge : int
        Largest edge of the crop.

    Returns
    -------
    numpy.ndarray
        float32.
    """
    crop = tuple(
        slice(max(0, (n - edge) // 2), max(0, (n - edge) // 2) + min(n, edge)) for n in source.shape
    )
    return source.read((crop[0], crop[1], crop[2])).astype(np.float32)


def estimate_classical(
    source: VolumeSource,
    diameter_px: tuple[float, float, float],
    *,
    diameter: Any,
    voxel_size: Any,
    invert: bool,
    kwargs: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Global parameters of the classical detector, and the keyword arguments for every block.

    Parameters
    ----------
    source : VolumeSource
        The whole volume.
    diameter_px : tuple of 3 float
        Particle diameter per axis, voxels.
    diameter, voxel_size : float or sequence of 3 float
        The user's diameter and voxel size (``separation`` is in their units).
    invert : bool
        Dark particles.
    kwargs : dict
        The user's keyword arguments for :func:`~voxpick.detect.classical.locate_classical`.

    Returns
    -------
    block_kwargs : dict
        Arguments for every block (``noise``, ``z_blur``, ``threshold``, ``min_relative=0``,
        ``workers=1`` unless given, and the rest of ``kwargs``).
    globals_ : dict
        ``noise``, ``z_blur``, ``threshold`` (``None`` when automatic), ``min_relative``,
        ``roughness`` and ``filter_scale``, for :func:`finish_classical`.
    """
    block_kwargs = dict(kwargs)
    crop = central_crop(source)
    if invert:
        np.negative(crop, out=crop)
    noise = kwargs.get("noise")
    if noise is None:
        sample = noise_sample(source)
        if invert:
            np.negative(sample, out=sample)
        noise = estimate_noise(sample)
    z_blur = kwargs.get("z_blur")
    if z_blur is None:
        z_blur = math.sqrt(estimate_z_blur(crop, diameter_px, float(noise)))
    threshold = kwargs.get("threshold")
    min_relative = kwargs.get("min_relative", DEFAULT_MIN_RELATIVE)
    block_kwargs.update(
        noise=noise,
        z_blur=z_blur,
        threshold=MIN_AUTO_THRESHOLD if threshold is None else threshold,
        min_relative=0.0,
    )
    block_kwargs.setdefault("workers", 1)
    # Validate every argument on the small crop now rather than in the first block.
    check = {**block_kwargs, "min_relative": min_relative}
    locate_classical(crop, diameter=diameter, voxel_size=voxel_size, **check)
    filter_scale = float(kwargs.get("filter_scale", DEFAULT_FILTER_SCALE))
    bp = log_filter(
        crop,
        filter_sigma(filter_scale, diameter_px),
        z_blur_var=float(z_blur) ** 2,
        wiener=WIENER,
        workers=1,
    )
    globals_ = {
        "noise": float(noise),
        "z_blur": float(z_blur),
        "threshold": None if threshold is None else float(threshold),
        "min_relative": float(min_relative),
        "roughness": float(bp.roughness),
        "filter_scale": filter_scale,
    }
    return block_kwargs, globals_


def finish_classical(
    candidates: pd.DataFrame,
    globals_: dict[str, Any],
    *,
    shape: tuple[int, int, int],
    diameter_px: tuple[float, float, float],
) -> tuple[pd.DataFrame, float]:
    """Apply the whole-volume threshold and ``min_relative`` cut to the merged candidates.

    Parameters
    ----------
    candidates : pandas.DataFrame
        Merged block results (``score`` and ``response`` columns).
    globals_ : dict
        From :func:`estimate_classical`.
    shape : tuple of 3 int
        Shape of the whole volume.
    diameter_px : tuple of 3 float
        Particle diameter per axis, voxels.

    Returns
    -------
    detections : pandas.DataFrame
        The kept rows.
    threshold : float
        The threshold used.
    """
    score = candidates["score"].to_numpy(dtype=float)
    height = candidates["response"].to_numpy(dtype=float)
    main = ~candidates["sharp_only"].to_numpy(dtype=bool)  # as the whole-volume detector:
    threshold = globals_["threshold"]  # main-filter candidates, scores before the face rule
    if threshold is None:
        pos = candidates[["z", "y", "x"]].to_numpy(dtype=float)[main]
        threshold = auto_threshold(
            score[main] / face_factor(pos, shape, diameter_px),
            volume_voxels=float(np.prod(shape)),
            roughness=globals_["roughness"],
            diameter_px=diameter_px,
        )
    typical = typical_height(height[main])
    keep = (score >= threshold) & (height >= globals_["min_relative"] * typical)
    return candidates[keep], float(threshold)
