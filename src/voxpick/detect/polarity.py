"""Are the particles brighter or darker than the background? A cheap test, for a suggestion.

The classical detector's band-pass (a Laplacian of Gaussian at half the particle radius,
:func:`voxpick.detect.filters.log_filter`) turns each particle into a blob of the particle's sign
on a zero-mean background. On a central crop, the skewness of the band-passed voxels has the
particles' sign: bright particles give a long positive tail, dark ones a negative one. A dense
packing makes the gaps between particles blob-like too, and the skewness then moves towards zero;
so the test answers ``"unclear"`` between :data:`DARK_SKEW` and :data:`BRIGHT_SKEW`. When the
skewness says dark, the classical detector confirms it: it locates the crop both ways, and the
particles are called dark only when the inverted detections are also the stronger ones (sum of
their signal-to-noise ratios).

The test only suggests ``invert=True``: :func:`voxpick.locate` never flips the polarity by
itself (a wrong flip would find the gaps between particles). How often it is right:
``docs/benchmarks.md``, "Particle polarity" (``python -m bench.benchmarks.polarity``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxpick.detect.classical import DEFAULT_FILTER_SCALE, ClassicalDetector, filter_sigma
from voxpick.detect.contract import Setup
from voxpick.detect.filters import log_filter
from voxpick.io.calibration import resolve_voxel_size
from voxpick.io.source import VolumeSource, central_box, open_volume
from voxpick.validation import diameter_in_voxels

#: Skewness of the band-passed crop below which the particles look dark (then confirmed).
DARK_SKEW = -0.4

#: Skewness above which the particles look bright.
BRIGHT_SKEW = 0.4

#: The crop is this many diameters across (at least :data:`MIN_CROP` voxels per axis).
CROP_DIAMETERS = 8

#: Smallest crop edge, voxels (the whole volume when it is smaller).
MIN_CROP = 96


@dataclass(frozen=True)
class Polarity:
    """Result of :func:`particle_polarity`.

    Attributes
    ----------
    verdict : str
        ``"bright"`` (particles brighter than the background: the default, ``invert=False``),
        ``"dark"`` (use ``invert=True``) or ``"unclear"`` (no suggestion).
    skewness : float
        Skewness of the band-passed central crop.
    crop : tuple of 3 int
        Shape of the crop measured.
    strength_bright, strength_dark : float or None
        Sum of the signal-to-noise ratios of the classical detections on the crop as it is and
        inverted (measured only to confirm a dark verdict).
    """

    verdict: str
    skewness: float
    crop: tuple[int, int, int]
    strength_bright: float | None = None
    strength_dark: float | None = None

    @property
    def finding(self) -> str:
        """What was measured, in one sentence."""
        edge = "x".join(str(n) for n in self.crop)
        measured = f"band-pass skewness {self.skewness:+.2f} on the central {edge} voxels"
        if self.verdict == "dark":
            return (
                f"The particles look darker than the background ({measured}; inverted, the "
                f"classical detections sum to {self.strength_dark:.0f} SNR against "
                f"{self.strength_bright:.0f})."
            )
        if self.verdict == "bright":
            return f"The particles look brighter than the background ({measured})."
        return f"Cannot tell whether the particles are bright or dark ({measured})."

    @property
    def message(self) -> str:
        """What was measured and what to do."""
        return self.finding + (" Locate them with invert=True." if self.verdict == "dark" else "")

    def __repr__(self) -> str:
        return f"<Polarity {self.verdict}: {self.message}>"

    def _repr_html_(self) -> str:
        return f"<b>{html.escape(self.verdict)}</b>: {html.escape(self.message)}"


def _skewness(values: np.ndarray) -> float:
    centred = values - values.mean()
    var = float(np.mean(centred**2))
    if var <= 0.0:
        return 0.0
    return float(np.mean(centred**3) / var**1.5)


def _strength(crop: np.ndarray, diameter_px: tuple[float, float, float], invert: bool) -> float:
    """Sum of the SNR of the classical detections in the crop (one block, default options)."""
    detector = ClassicalDetector(workers=1)
    shape = (int(crop.shape[0]), int(crop.shape[1]), int(crop.shape[2]))
    setup = Setup(diameter_px=diameter_px, invert=invert, shape=shape)
    params = detector.estimate(VolumeSource(crop, description="crop"), setup)
    box = (slice(0, shape[0]), slice(0, shape[1]), slice(0, shape[2]))
    found = detector.finish(detector.find(crop, setup, params, box=box), setup, params)
    return float(found["snr"].sum()) if len(found) else 0.0


def particle_polarity(volume: Any, *, diameter: Any, voxel_size: Any = None) -> Polarity:
    """Tell whether the particles are brighter or darker than the background.

    Parameters
    ----------
    volume : array_like, dask.array.Array, zarr.Array, str or os.PathLike
        3D volume (z, y, x), or its path (read only around the centre).
    diameter : float or sequence of 3 float
        Particle diameter in the units of ``voxel_size``.
    voxel_size : float or sequence of 3 float, optional
        Voxel size per axis (z, y, x); default as :func:`voxpick.locate`: the file's
        calibration for a path that records one, else 1 (``diameter`` in voxels).

    Returns
    -------
    Polarity
        ``verdict`` ``"dark"`` means: use ``invert=True``.

    Examples
    --------
    >>> from voxpick.simulate import simulate_volume
    >>> dark = simulate_volume(64, radius=4, volfrac=0.2, invert=True, rng=0)
    >>> particle_polarity(dark.volume, diameter=8).verdict
    'dark'
    """
    voxel_size, _ = resolve_voxel_size(volume, voxel_size)
    d_px = diameter_in_voxels(diameter, voxel_size)
    source = open_volume(volume)
    edge = max(MIN_CROP, int(np.ceil(CROP_DIAMETERS * max(d_px))))
    crop = source.read(central_box(source.shape, edge)).astype(np.float32)
    shape = (int(crop.shape[0]), int(crop.shape[1]), int(crop.shape[2]))
    band = log_filter(crop, filter_sigma(DEFAULT_FILTER_SCALE, d_px), margin=0, workers=1)
    skew = _skewness(band.response.astype(np.float64).ravel())
    if skew >= BRIGHT_SKEW:
        return Polarity("bright", skew, shape)
    if skew > DARK_SKEW:
        return Polarity("unclear", skew, shape)
    bright, dark = _strength(crop, d_px, False), _strength(crop, d_px, True)
    return Polarity("dark" if dark > bright else "unclear", skew, shape, bright, dark)
