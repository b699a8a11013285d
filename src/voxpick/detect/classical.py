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
   survives. ``snr = response / (noise * ||filter||)`` is a signal-to-noise ratio with the
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

from voxpick.detect.contract import Box, Detector, Setup
from voxpick.detect.filters import (
    NOISE_SAMPLE_VOXELS,
    BandPass,
    estimate_noise,
    estimate_z_blur,
    log_filters,
    log_roughness,
)
from voxpick.detect.maxima import local_maxima, maxima_half_width, refine_quadratic, suppress_close
from voxpick.detect.measure import measure_particles
from voxpick.detect.peaks import face_factor, sharp_only_peaks
from voxpick.detect.schema import detections_frame
from voxpick.detect.threshold import MIN_AUTO_THRESHOLD, auto_threshold, typical_height
from voxpick.io.source import VolumeSource, central_box
from voxpick.validation import as_triple, check_number

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

#: Edge of the central crop on which the z blur and the filter's roughness are measured.
Z_BLUR_CROP = 96

#: Reach of the LoG band-pass in Gaussian sigmas.
LOG_REACH = 6.0

#: Reach of the Wiener z deconvolution in z-blur sigmas.
WIENER_REACH = 16.0

#: Reach of the local-background estimate in background cells (half a diameter each).
BACKGROUND_REACH = 4.5

_Z_HINT = "It is a Gaussian sigma in voxels; 0 turns the z correction off."


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


def background_cell(diameter_px: tuple[float, float, float]) -> tuple[int, int, int]:
    """Edge of the local-background cells, voxels (half a diameter).

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

    The LoG reaches about six Gaussian sigmas, the Wiener z deconvolution about sixteen z-blur
    sigmas, and the local background about 4.5 cells of half a diameter on each side.

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


def noise_sample(source: VolumeSource) -> np.ndarray:
    """Every ``step``-th z slice, as :func:`~voxpick.detect.filters.estimate_noise` samples.

    Parameters
    ----------
    source : VolumeSource
        The volume.

    Returns
    -------
    numpy.ndarray
        float32.
    """
    nz = source.shape[0]
    step = max(1, int(np.prod(source.shape)) // NOISE_SAMPLE_VOXELS)
    step = min(step, max(1, nz // 4))
    return source.read((slice(None, None, step), slice(None), slice(None))).astype(np.float32)


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


class ClassicalDetector(Detector):
    """LoG band-pass, local maxima, quadratic refinement, noise-calibrated automatic threshold.

    Parameters
    ----------
    threshold : float, optional
        Keep detections whose filter signal-to-noise ratio (``snr``) is at least this. Default:
        chosen per volume from the noise statistics (:func:`auto_threshold`), between 2.5
        (dense samples) and about 5 (sparse or empty volumes).
    min_score : float, optional
        Also return weaker candidates down to this signal-to-noise ratio (``score < 1``), for a
        precision-recall sweep past the default operating point; the threshold is chosen
        exactly as without it. Values below about 1 mostly add noise peaks.
    separation_px : tuple of 3 float, optional
        Minimum distance between two detections, voxels per axis. Default half a diameter.
    filter_scale : float
        Gaussian scale of the LoG as a fraction of the radius (0.05-2).
    detect_scale : float or None
        LoG scale (fraction of the radius) of a second, sharper band-pass that adds
        candidates (``sharp_only``) when ``min_score`` is given; None turns it off.
    noise : float, optional
        Voxel noise standard deviation, grey levels; estimated by default.
    z_blur : float, optional
        Extra z blur (Gaussian sigma, voxels) to deconvolve; estimated by default, 0 is off.
    min_relative : float
        Drop peaks whose filter response is below this fraction of a typical particle's (0-1).
    workers : int, optional
        FFT threads (default: all cores, at most 8, for a whole volume; 1 per block).
    """

    name = "classical"
    options = (
        "threshold", "min_score", "separation_px", "filter_scale", "detect_scale", "noise",
        "z_blur", "min_relative", "workers",
    )  # fmt: skip

    def __init__(
        self,
        *,
        threshold: float | None = None,
        min_score: float | None = None,
        separation_px: Any = None,
        filter_scale: float = DEFAULT_FILTER_SCALE,
        detect_scale: float | None = DEFAULT_DETECT_SCALE,
        noise: float | None = None,
        z_blur: float | None = None,
        min_relative: float = DEFAULT_MIN_RELATIVE,
        workers: int | None = None,
    ) -> None:
        self.threshold = None
        if threshold is not None:
            self.threshold = check_number(
                threshold, name="threshold", lo=1e-6, hi=1e6,
                hint="It is a signal-to-noise ratio, e.g. 4.",
            )  # fmt: skip
        self.min_score = None
        if min_score is not None:
            self.min_score = check_number(
                min_score, name="min_score", lo=0.0, hi=1e6,
                hint="It is a signal-to-noise ratio, e.g. 1.5; None returns only the detections.",
            )  # fmt: skip
        self.separation_px = None
        if separation_px is not None:
            self.separation_px = as_triple(separation_px, name="separation")
        self.filter_scale = check_number(
            filter_scale, name="filter_scale", lo=0.05, hi=2.0, hint="Typical values are 0.3-0.6."
        )
        self.detect_scale = None
        if detect_scale is not None:
            self.detect_scale = check_number(
                detect_scale, name="detect_scale", lo=0.05, hi=2.0,
                hint="Typical values are 0.2 to 0.5; None turns the second finder off.",
            )  # fmt: skip
        self.noise = None
        if noise is not None:
            self.noise = check_number(
                noise,
                name="noise",
                lo=1e-12,
                hi=1e12,
                hint="It is the voxel noise std, grey levels.",
            )
        self.z_blur = None
        if z_blur is not None:
            self.z_blur = check_number(z_blur, name="z_blur", lo=0.0, hi=1e4, hint=_Z_HINT)
        self.min_relative = check_number(
            min_relative, name="min_relative", lo=0.0, hi=1.0, hint="It is a fraction, e.g. 0.1."
        )
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
            raise TypeError(f"workers={workers!r} must be a positive int or None (all cores).")
        self.workers = workers

    def estimate(self, source: VolumeSource, setup: Setup) -> dict[str, Any]:
        """Noise, z blur and filter roughness of the whole volume; see :class:`Detector`."""
        d_px = setup.diameter_px
        crop = source.read(central_box(source.shape, Z_BLUR_CROP)).astype(np.float32)
        if setup.invert:
            np.negative(crop, out=crop)
        if self.noise is None:
            sample = noise_sample(source)
            if setup.invert:
                np.negative(sample, out=sample)
            noise = estimate_noise(sample)
        else:
            noise = self.noise
        if self.z_blur is None:
            z_var = estimate_z_blur(crop, d_px, noise, workers=self.workers)
        else:
            z_var = self.z_blur**2
        sigma = filter_sigma(self.filter_scale, d_px)
        roughness = log_roughness(crop.shape, sigma, z_blur_var=z_var, wiener=WIENER)
        sep = self.separation_px or tuple(DEFAULT_SEPARATION * d for d in d_px)
        return {
            "noise": float(noise),
            "z_blur_var": float(z_var),
            "roughness": float(roughness),
            "floor": MIN_AUTO_THRESHOLD if self.threshold is None else self.threshold,
            "separation_px": [float(s) for s in sep],
        }

    def context(
        self, setup: Setup, params: dict[str, Any]
    ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """Halo of the filter and background; blocks on the background grid."""
        halo = classical_context(
            setup.diameter_px,
            filter_scale=self.filter_scale,
            z_blur=math.sqrt(params["z_blur_var"]),
        )
        return halo, background_cell(setup.diameter_px)

    def find(
        self,
        block: np.ndarray,
        setup: Setup,
        params: dict[str, Any],
        *,
        box: Box,
        measure: bool = True,
    ) -> pd.DataFrame:
        """Every peak at or above the lowest score asked for, measured; see :class:`Detector`.

        ``measure=False`` leaves ``mass``, ``signal`` and ``background`` NaN, for a caller that
        measures the candidates of several detectors in one pass
        (:func:`voxpick.detect.measure.measure_particles`).
        """
        d_px = setup.diameter_px
        vol = np.asarray(block).astype(np.float32, copy=True)
        if setup.invert:
            np.negative(vol, out=vol)
        workers = self.workers
        if workers is None and tuple(vol.shape) != tuple(setup.shape):
            workers = 1  # blocks run side by side
        scales = [filter_sigma(self.filter_scale, d_px)]
        if self.detect_scale is not None and self.min_score is not None:  # candidate lists only
            scales.append(filter_sigma(self.detect_scale, d_px))
        bp, *sharp = log_filters(
            vol, scales, z_blur_var=params["z_blur_var"], wiener=WIENER, workers=workers
        )
        unit = params["noise"] * bp.noise_gain  # standard deviation of the response due to noise
        floor = params["floor"]
        lowest = floor if self.min_score is None else min(floor, self.min_score)
        sep = tuple(params["separation_px"])
        pos, snr, height = _find_peaks(bp, unit, lowest, sep, vol.shape)
        sharp_only = np.zeros(len(pos), dtype=bool)
        if sharp:
            # known: the main candidates a run without min_score has, so that min_score only
            # adds rows below the threshold
            known = pos[snr >= floor]
            more = sharp_only_peaks(sharp[0], bp, unit, lowest, sep, vol.shape, known=known)
            pos = np.concatenate([pos, more[0]])
            snr = np.concatenate([snr, more[1]])
            height = np.concatenate([height, more[2]])
            sharp_only = np.concatenate([sharp_only, np.ones(len(more[0]), dtype=bool)])
        measured = measure_particles(vol, pos, d_px, invert=setup.invert) if measure else {}
        out = detections_frame(
            pos, detector=self.name, columns={"snr": snr, "sharp_only": sharp_only, **measured}
        )
        out["response"] = height
        return out

    def finish(
        self, candidates: pd.DataFrame, setup: Setup, params: dict[str, Any]
    ) -> pd.DataFrame:
        """Face rule, automatic threshold and relative-height cut on all candidates."""
        pos = candidates[["z", "y", "x"]].to_numpy(dtype=float)
        raw = candidates["snr"].to_numpy(dtype=float)
        height = candidates["response"].to_numpy(dtype=float)
        sharp_only = candidates["sharp_only"].to_numpy(dtype=bool)
        snr = raw * face_factor(pos, setup.shape, setup.diameter_px)
        floor = params["floor"]
        # Candidates below the floor never suppress a stronger peak (suppression goes by
        # score), so the main-filter peaks at or above it, and with them the threshold and the
        # typical height, are those of a run without min_score. The threshold is chosen on
        # scores before the face rule.
        base = (snr >= floor) & ~sharp_only
        threshold = self.threshold
        if threshold is None:
            threshold = auto_threshold(
                raw[base],
                volume_voxels=float(np.prod(setup.shape)),
                roughness=params["roughness"],
                diameter_px=setup.diameter_px,
            )
        cut = threshold if self.min_score is None else self.min_score
        keep = (snr >= cut) & (height >= self.min_relative * typical_height(height[base]))
        out = candidates[keep].copy()
        out["snr"] = snr[keep]
        out["score"] = snr[keep] / threshold
        out.attrs = {
            "threshold": float(threshold),
            "min_score": float(cut),
            "noise": params["noise"],
            "filter_sigma_px": filter_sigma(self.filter_scale, setup.diameter_px),
            "detect_scale": self.detect_scale if self.min_score is not None else None,
            "z_blur_px": math.sqrt(params["z_blur_var"]),
        }
        return out
