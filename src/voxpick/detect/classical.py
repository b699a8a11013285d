"""The classical detector: band-pass, local maxima, noise-calibrated score, sub-voxel refinement.

Built for dense, touching, small, noisy and z-elongated particles; see ``docs/locate.md`` for
the reasoning behind each step and default. In short:

1. **Noise and z blur.** The voxel noise is measured robustly (MAD of second differences); the
   extra blur the confocal PSF adds along z is measured from the power spectrum (a packing of
   spheres is isotropic once scaled by the diameter).
2. **Band-pass, one FFT.** A scale-normalised Laplacian of Gaussian (LoG) at ``sigma =
   filter_scale * radius`` per axis, times a Wiener-regularised inverse of the extra z blur. It
   removes the background (constant and linear trends vanish) and peaks at blob centres; it is
   narrower than a matched filter on purpose, so the valley between touching particles
   survives. ``score = response / (noise * ||filter||)`` is a signal-to-noise ratio with the
   same meaning on every volume.
3. **Local maxima** in a box of half the minimum separation (default separation: half a
   diameter, well below the one diameter at which touching particles sit), then non-maximum
   suppression within the separation ellipsoid; centres estimated outside the volume dropped.
4. **Sub-voxel refinement** by a quadratic fit of the response around each peak (unbiased for a
   symmetric filter; tested on simulated volumes).
5. **Automatic threshold** from random field theory: the expected number of noise peaks in the
   particle-free part of the volume against the number of candidates.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from voxpick.detect.filters import (
    BandPass,
    estimate_noise,
    estimate_z_blur,
    expected_noise_peaks,
    local_background,
    log_filters,
)
from voxpick.detect.peaks import face_factor, sharp_only_peaks
from voxpick.detect.refine import (
    ellipsoid_offsets,
    ellipsoid_stats,
    local_maxima,
    maxima_half_width,
    refine_quadratic,
    suppress_close,
)
from voxpick.detect.schema import detections_frame
from voxpick.validation import check_volume, diameter_in_voxels, length_in_voxels

#: Extra columns of the classical detector, after ``z, y, x, score``.
CLASSICAL_COLUMNS: tuple[str, ...] = (
    "mass", "signal", "background", "response", "sharp_only"
)  # fmt: skip

#: Lowest score threshold the automatic choice may pick (signal-to-noise ratio).
MIN_AUTO_THRESHOLD = 2.5

#: Cost of one expected noise detection relative to one found particle (automatic threshold).
NOISE_COST = 1.5

#: Expected noise peaks in the whole volume at the automatic threshold's upper bound.
MAX_NOISE_PEAKS = 0.5

#: Around each particle, noise peaks are masked (suppressed or drowned) within this fraction
#: of the diameter; used to estimate the particle-free volume where noise peaks can appear.
EXCLUSION_RADIUS = 0.75

#: Smallest particle-free fraction of the volume assumed by the automatic threshold.
MIN_FREE_FRACTION = 0.01

#: Default LoG scale as a fraction of the particle radius (per axis).
DEFAULT_FILTER_SCALE = 0.5

#: Default LoG scale of the second, sharper finder (fraction of the radius; see ``peaks``).
DEFAULT_DETECT_SCALE = 0.3

#: Default minimum separation between two detections, as a fraction of the diameter.
DEFAULT_SEPARATION = 0.5

#: Default lowest response of a detection relative to a typical particle's.
DEFAULT_MIN_RELATIVE = 0.1

#: Regularisation of the z deconvolution (noise-to-signal ratio of the Wiener filter).
WIENER = 0.05


def filter_sigma(
    scale: float, diameter_px: tuple[float, float, float]
) -> tuple[float, float, float]:
    """Gaussian scale per axis (voxels) of a LoG at ``scale`` times the radius.

    Parameters
    ----------
    scale : float
        Fraction of the radius (``filter_scale``, ``detect_scale``).
    diameter_px : tuple of 3 float
        Particle diameter per axis, voxels.

    Returns
    -------
    tuple of 3 float
    """
    dz, dy, dx = diameter_px
    return (scale * dz / 2.0, scale * dy / 2.0, scale * dx / 2.0)


def _check_scalar(value: Any, *, name: str, lo: float, hi: float, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name}={value!r} is not a number: expected a float. {hint}")
    v = float(value)
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{name}={value!r} is out of range: expected {lo} to {hi}. {hint}")
    return v


def resolve_diameter(
    volume_shape: tuple[int, ...], diameter: Any, voxel_size: Any
) -> tuple[float, float, float]:
    """Validate ``diameter`` (same units as ``voxel_size``) and return it in voxels (z, y, x).

    Parameters
    ----------
    volume_shape : tuple of int
        Shape of the volume, to reject diameters larger than the volume.
    diameter : float or sequence of 3 float
        Particle diameter, physical units (voxels when ``voxel_size`` is 1).
    voxel_size : float or sequence of 3 float
        Voxel size per axis (z, y, x).

    Returns
    -------
    tuple of float
        Diameter per axis in voxels.
    """
    d_px = diameter_in_voxels(diameter, voxel_size)
    too_big = [ax for ax, d, n in zip("zyx", d_px, volume_shape, strict=True) if d > n]
    if too_big:
        raise ValueError(
            f"diameter={diameter!r} is {tuple(round(d, 2) for d in d_px)} voxels, larger than "
            f"the volume {tuple(volume_shape)} along {', '.join(too_big)}: expected a particle "
            "that fits inside the volume. Check the units (diameter / voxel_size = voxels)."
        )
    return d_px


def auto_threshold(
    scores: np.ndarray,
    *,
    volume_voxels: float,
    roughness: float,
    diameter_px: tuple[float, float, float],
    noise_cost: float = NOISE_COST,
) -> float:
    """Score threshold that balances faint particles against noise peaks, from the noise alone.

    Random field theory (:func:`~voxpick.detect.filters.expected_noise_peaks`) predicts how many
    pure-noise peaks exceed each level ``u`` in the particle-free part of the volume, ``E(u)``;
    the candidates give the observed count ``N(u)``. The threshold maximises
    ``N(u) - (1 + noise_cost) E(u)``: lowering it is worth it while the extra detections are
    mostly particles (marginal precision above ``1 / (1 + noise_cost)``). A dense sample leaves
    little particle-free volume, so the threshold goes low and
    catches faint particles; a sparse or empty one pushes it up to the level where the whole
    volume expects at most :data:`MAX_NOISE_PEAKS` noise peaks.

    Parameters
    ----------
    scores : numpy.ndarray
        Scores of all candidate peaks (at least those above ``MIN_AUTO_THRESHOLD``).
    volume_voxels : float
        Number of voxels searched.
    roughness : float
        ``BandPass.roughness`` of the filter.
    diameter_px : tuple of 3 float
        Particle diameter per axis, voxels.
    noise_cost : float
        Cost of one expected noise detection relative to the gain of one particle.

    Returns
    -------
    float
        The threshold, in noise standard deviations.
    """
    levels = np.arange(MIN_AUTO_THRESHOLD, 12.0, 0.05)
    full = expected_noise_peaks(levels, volume_voxels, roughness)
    below = full <= MAX_NOISE_PEAKS
    upper = float(levels[np.argmax(below)]) if below.any() else float(levels[-1])
    s = np.sort(np.asarray(scores, dtype=float))
    count = (len(s) - np.searchsorted(s, levels, side="left")).astype(float)
    n_real = max(0.0, float(np.max(count - full)))
    excl = 4.0 / 3.0 * math.pi * EXCLUSION_RADIUS**3 * float(np.prod(diameter_px))
    free = float(np.clip(1.0 - n_real * excl / volume_voxels, MIN_FREE_FRACTION, 1.0))
    gain = count - (1.0 + noise_cost) * free * full
    gain[levels > upper] = -np.inf
    return float(levels[np.argmax(gain)])


def typical_height(heights: np.ndarray) -> float:
    """Filter response of a typical bright particle: a robust high quantile of the peaks.

    The 90th percentile of the peaks at least a tenth as high as the highest, so that a few
    real particles among many faint spurious peaks still set the scale.

    Parameters
    ----------
    heights : numpy.ndarray
        Peak heights of the detections.

    Returns
    -------
    float
        The typical height (0 when there are no peaks).
    """
    h = np.asarray(heights, dtype=float)
    if h.size == 0:
        return 0.0
    strong = h[h >= 0.1 * h.max()]
    return float(np.percentile(strong, 90))


_Z_HINT = "It is a Gaussian sigma in voxels; 0 turns the z correction off."


def _find_peaks(
    bp: BandPass,
    unit: float,
    floor: float,
    sep_px: tuple[float, float, float],
    shape: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refined peaks of the response with score >= floor, inside the volume, separated."""
    half = maxima_half_width(sep_px)
    peaks = local_maxima(bp.response, 0.8 * floor * unit, half)
    pos, height = refine_quadratic(bp.response, peaks)
    pos -= np.asarray(bp.margin)
    score = height / unit
    # A centre estimated outside the volume (voxel i spans i - 0.5 to i + 0.5) belongs to a
    # particle cut by the face, more likely centred outside than inside: dropped.
    size = np.asarray(shape, dtype=float)
    keep = np.all((pos >= -0.5) & (pos < size - 0.5), axis=1) & (score >= floor)
    pos, score, height = pos[keep], score[keep], height[keep]
    keep = suppress_close(pos, score, sep_px, 1.0)
    return pos[keep], score[keep], height[keep]


def _measure(
    vol: np.ndarray, pos: np.ndarray, d_px: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mass, signal and local background of each detection (bright-particle convention)."""
    background = local_background(vol, d_px, pos)
    centres = np.clip(np.rint(pos).astype(np.int64), 0, np.asarray(vol.shape) - 1)
    whole = ellipsoid_offsets((d_px[0] / 2.0, d_px[1] / 2.0, d_px[2] / 2.0))
    total, count = ellipsoid_stats(vol, centres, whole)
    mass = total - background * count
    core = ellipsoid_offsets((d_px[0] / 4.0, d_px[1] / 4.0, d_px[2] / 4.0))
    total, count = ellipsoid_stats(vol, centres, core)
    signal = total / np.maximum(count, 1) - background
    return mass, signal, background


def locate_classical(
    volume: Any,
    *,
    diameter: Any,
    voxel_size: Any = 1,
    invert: bool = False,
    threshold: float | None = None,
    min_score: float | None = None,
    separation: Any = None,
    filter_scale: float = DEFAULT_FILTER_SCALE,
    detect_scale: float | None = DEFAULT_DETECT_SCALE,
    noise: float | None = None,
    z_blur: float | None = None,
    min_relative: float = DEFAULT_MIN_RELATIVE,
    workers: int | None = None,
) -> pd.DataFrame:
    """Find particles with the classical pipeline (LoG band-pass, maxima, quadratic refinement).

    Parameters
    ----------
    volume : array_like
        3D image, axes (z, y, x), integer or float.
    diameter : float or sequence of 3 float
        Particle diameter, in the same units as ``voxel_size`` (voxels by default); a
        ``(z, y, x)`` triple for a particle that looks elongated (e.g. by the confocal PSF).
        Diameter in voxels is ``diameter / voxel_size``.
    voxel_size : float or sequence of 3 float
        Voxel size per axis (z, y, x). Default 1: ``diameter`` is in voxels.
    invert : bool
        Particles are darker than the background.
    threshold : float, optional
        Keep detections whose ``score`` (signal-to-noise ratio of the filter response) is at
        least this. Default: chosen automatically per volume from the noise statistics
        (:func:`auto_threshold`); it lands between 2.5 (dense samples, where noise peaks have
        little room) and about 5 (sparse or empty volumes). Pass e.g. ``threshold=2.5`` to get
        more candidates and sweep ``score`` afterwards (or use ``min_score``, which keeps the
        default operating point).
    min_score : float, optional
        Also return the weaker candidates, down to this score, below the threshold: for a
        precision-recall sweep over ``score`` that reaches past the default operating point.
        The threshold (automatic or given) is still chosen exactly as without ``min_score`` and
        recorded in ``attrs["threshold"]``; the rows with ``score >= attrs["threshold"]`` and
        not ``sharp_only`` are exactly the default detections (the second finder,
        ``detect_scale``, adds candidates in this mode only). Default: the threshold (only
        the detections). Values below about 1 mostly add noise peaks. Not available for
        chunked (dask, zarr) volumes.
    separation : float or sequence of 3 float, optional
        Minimum distance between two detections, same units as ``diameter``. Default half a
        diameter: touching particles (one diameter apart) are always both kept.
    filter_scale : float
        Gaussian scale of the LoG as a fraction of the radius (default 0.5). Larger smooths more
        (better at very low SNR, worse at separating touching particles).
    detect_scale : float or None
        LoG scale, as a fraction of the radius, of a second, sharper band-pass (default 0.3)
        that adds candidates when ``min_score`` is given (never to the default detections).
        Its local maxima farther than ``separation`` from every detection of the main filter
        are added: particles the main filter merged with a touching neighbour (along z above
        all). They are ranked behind: their ``score`` is half the main filter's
        signal-to-noise ratio at their position, and ``sharp_only`` marks them. On simulated
        dense volumes they raise the recall reachable at a given precision; on real volumes
        they also split particles (docs/locate.md), so they are offered for sweeps only.
        None turns the second finder off.
    noise : float, optional
        Voxel noise standard deviation in grey levels; estimated from the volume by default.
    z_blur : float, optional
        Standard deviation (voxels) of the extra blur along z, beyond what ``diameter``
        implies, that the confocal PSF adds; it is partly undone (Wiener deconvolution) so that
        particles touching along z separate. Estimated from the volume's power spectrum by
        default; 0 turns the correction off.
    min_relative : float
        Also drop peaks whose filter response is below this fraction of a typical particle's
        (:func:`typical_height`; default 0.1). It only matters at high signal-to-noise, where
        faint halos, PSF side lobes or debris far above the noise are still far below any
        particle; 0 turns it off.
    workers : int, optional
        Threads for the FFT (default: all cores, at most 8).

    Returns
    -------
    pandas.DataFrame
        One row per particle, sorted by decreasing score: ``z, y, x`` (voxels, sub-voxel),
        ``score`` (filter signal-to-noise ratio), ``mass`` (integrated brightness above the local
        background within the diameter ellipsoid), ``signal`` (mean brightness above the local
        background within the central half of the diameter), ``background`` (local background
        level) and ``response`` (filter peak height, grey levels). Same columns, zero rows,
        when nothing is found. ``DataFrame.attrs`` records the threshold, noise level, filter
        scale and z blur used, and ``attrs["min_score"]`` the lowest score returned.

    Examples
    --------
    >>> import numpy as np
    >>> vol = np.zeros((32, 32, 32), np.float32)
    >>> zz, yy, xx = np.mgrid[:32, :32, :32]
    >>> vol[(zz - 16.0) ** 2 + (yy - 12.0) ** 2 + (xx - 20.0) ** 2 <= 16] = 100.0
    >>> found = locate_classical(vol + np.random.default_rng(0).normal(0, 5, vol.shape),
    ...                          diameter=8)
    >>> len(found), [round(v) for v in found.loc[0, ["z", "y", "x"]]]
    (1, [16, 12, 20])
    """
    arr = check_volume(volume)
    d_px = resolve_diameter(arr.shape, diameter, voxel_size)
    if threshold is not None:
        threshold = _check_scalar(
            threshold,
            name="threshold",
            lo=0.0,
            hi=1e6,
            hint="It is a signal-to-noise ratio, e.g. 4.",
        )
    if min_score is not None:
        min_score = _check_scalar(
            min_score,
            name="min_score",
            lo=0.0,
            hi=1e6,
            hint="It is a signal-to-noise ratio, e.g. 1.5; None returns only the detections.",
        )
    min_relative = _check_scalar(
        min_relative, name="min_relative", lo=0.0, hi=1.0, hint="It is a fraction, e.g. 0.1."
    )
    filter_scale = _check_scalar(
        filter_scale, name="filter_scale", lo=0.05, hi=2.0, hint="Typical values are 0.3 to 0.6."
    )
    if detect_scale is not None:
        detect_scale = _check_scalar(
            detect_scale, name="detect_scale", lo=0.05, hi=2.0,
            hint="Typical values are 0.2 to 0.5; None turns the second finder off.",
        )  # fmt: skip
    if separation is None:
        sep_px = (
            DEFAULT_SEPARATION * d_px[0],
            DEFAULT_SEPARATION * d_px[1],
            DEFAULT_SEPARATION * d_px[2],
        )
    else:
        sep_px = length_in_voxels(separation, voxel_size, name="separation")
    if noise is not None:
        noise = _check_scalar(
            noise, name="noise", lo=1e-12, hi=1e12, hint="It is the voxel noise std, grey levels."
        )

    vol = arr.astype(np.float32, copy=True)
    if invert:
        np.negative(vol, out=vol)
    sigma = filter_sigma(filter_scale, d_px)
    noise_sigma = estimate_noise(vol) if noise is None else noise
    if z_blur is None:
        z_var = estimate_z_blur(vol, d_px, noise_sigma, workers=workers)
    else:
        z_var = _check_scalar(z_blur, name="z_blur", lo=0.0, hi=1e4, hint=_Z_HINT) ** 2
    scales = [sigma]
    if detect_scale is not None and min_score is not None:  # candidate lists only
        scales.append(filter_sigma(detect_scale, d_px))
    bp, *sharp = log_filters(vol, scales, z_blur_var=z_var, wiener=WIENER, workers=workers)
    unit = noise_sigma * bp.noise_gain  # standard deviation of the response due to noise

    floor = MIN_AUTO_THRESHOLD if threshold is None else threshold
    lowest = floor if min_score is None else min(floor, min_score)
    pos, score, height = _find_peaks(bp, unit, lowest, sep_px, arr.shape)
    sharp_only = np.zeros(len(pos), dtype=bool)
    if sharp:
        find = sharp[0]
        # known: the main candidates a run without ``min_score`` has, so that ``min_score``
        # only adds rows below the threshold
        known = pos[score >= floor]
        more = sharp_only_peaks(find, bp, unit, lowest, sep_px, arr.shape, known=known)
        pos = np.concatenate([pos, more[0]])
        score = np.concatenate([score, more[1]])
        height = np.concatenate([height, more[2]])
        sharp_only = np.concatenate([sharp_only, np.ones(len(more[0]), dtype=bool)])
    # Candidates below the floor never suppress a stronger peak (suppression goes by score),
    # so the main-filter peaks at or above it, and with them the threshold and the typical
    # height, are those of a run without ``min_score``. Both are computed on scores before the
    # lowering at the faces, as the chunked path recomputes them.
    raw = score
    score = raw * face_factor(pos, arr.shape, d_px)
    base = (score >= floor) & ~sharp_only
    if threshold is None:
        threshold = auto_threshold(
            raw[base], volume_voxels=float(arr.size), roughness=bp.roughness, diameter_px=d_px
        )
    cut = threshold if min_score is None else min_score
    keep = (score >= cut) & (height >= min_relative * typical_height(height[base]))
    pos, score, height, sharp_only = pos[keep], score[keep], height[keep], sharp_only[keep]
    mass, signal, background = _measure(vol, pos, d_px)
    if invert:
        background = -background
    order = np.argsort(-score, kind="stable")
    extra = {
        "mass": mass[order],
        "signal": signal[order],
        "background": background[order],
        "response": height[order],
        "sharp_only": sharp_only[order],
    }
    out = detections_frame(pos[order], score[order], extra, extra_columns=CLASSICAL_COLUMNS)
    out.attrs.update(
        {
            "method": "classical",
            "threshold": float(threshold),
            "min_score": float(cut),
            "noise": float(noise_sigma),
            "diameter_px": d_px,
            "filter_sigma_px": sigma,
            "detect_scale": detect_scale if sharp else None,  # None: not run
            "z_blur_px": math.sqrt(z_var),
        }
    )
    return out
