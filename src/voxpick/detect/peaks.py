"""Candidate rules of the classical detector: the second, sharper finder and the face rule.

**Sharper finder.** The main band-pass (LoG at half the radius) averages noise away, but where
the blur is comparable to the particle size it merges touching particles, above all along z,
into one peak. A second LoG at a smaller scale keeps the valley between them. Its local maxima
that lie farther than the separation from every main-filter candidate are added, scored at
:data:`SHARP_ONLY_FACTOR` times the main filter's signal-to-noise ratio at their position: the
main detections keep their ranking (and the precision at the top of it), and a precision-recall
sweep reaches the merged particles further down.

**Faces.** A particle centred just outside a face of the volume is cut by it and looks like one
centred just inside (which the truth counts), so a centre within :data:`FACE_MARGIN` radii of a
face is ambiguous; in dense volumes most false detections are such. Their score is multiplied
by :data:`FACE_SCORE_FACTOR`, which ranks them after clear detections of the same strength.

Both factors and the sharper scale were chosen on simulated calibration volumes (seeds apart
from every reported benchmark volume); see docs/locate.md.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from voxpick.detect.filters import BandPass
from voxpick.detect.maxima import (
    local_maxima,
    maxima_half_width,
    refine_quadratic,
    suppress_close,
)

#: Score of a candidate found only by the sharper finder, relative to the main filter's SNR.
SHARP_ONLY_FACTOR = 0.5

#: Lowest signal-to-noise ratio of a sharper-finder peak on its own response.
SHARP_MIN_SNR = 1.0

#: Centres closer to a volume face than this fraction of the radius (per axis) are ambiguous.
FACE_MARGIN = 0.25

#: Score multiplier of such centres.
FACE_SCORE_FACTOR = 0.5


def sharp_only_peaks(
    find: BandPass,
    main: BandPass,
    unit: float,
    floor: float,
    sep_px: tuple[float, float, float],
    shape: tuple[int, ...],
    *,
    known: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Peaks of the sharper response that no main-filter candidate accounts for.

    Parameters
    ----------
    find : BandPass
        The sharper band-pass.
    main : BandPass
        The main band-pass, which scores the new candidates.
    unit : float
        Standard deviation of ``main.response`` due to noise.
    floor : float
        Lowest score kept (after the :data:`SHARP_ONLY_FACTOR`).
    sep_px : tuple of 3 float
        Minimum separation per axis, voxels.
    shape : tuple of int
        Volume shape (centres outside it are dropped).
    known : numpy.ndarray
        ``(N, 3)`` main-filter candidates at or above the detection floor; a sharper-finder
        peak within the separation of one of them is that particle, not a new one.

    Returns
    -------
    pos, score, height : numpy.ndarray
        New centres ``(M, 3)``, their scores and the main response there (grey levels).
    """
    half = maxima_half_width(sep_px)
    # a merged particle stands well above the noise of the sharp response too
    sharp_unit = unit / main.noise_gain * find.noise_gain
    peaks = local_maxima(find.response, SHARP_MIN_SNR * sharp_unit, half)
    # most maxima are noise or main-filter particles: drop those before refining
    at = peaks - np.asarray(find.margin) + np.asarray(main.margin)
    at = np.clip(at, 0, np.asarray(main.response.shape) - 1)
    rough = SHARP_ONLY_FACTOR * main.response[at[:, 0], at[:, 1], at[:, 2]] / unit
    peaks = peaks[rough >= 0.8 * floor]
    scaled = np.asarray(sep_px, dtype=float)
    tree = cKDTree(known / scaled) if len(known) else None
    if len(peaks) and tree is not None:
        near, _ = tree.query((peaks - np.asarray(find.margin)) / scaled)
        peaks = peaks[near >= 0.6]  # the exact test follows on refined positions
    pos, _ = refine_quadratic(find.response, peaks)
    pos -= np.asarray(find.margin)
    size = np.asarray(shape, dtype=float)
    pos = pos[np.all((pos >= -0.5) & (pos < size - 0.5), axis=1)]
    if len(pos) and tree is not None:
        dist, _ = tree.query(pos / scaled)
        pos = pos[dist >= 1.0]
    coords = (pos + np.asarray(main.margin)).T
    height = ndimage.map_coordinates(main.response, coords, order=1, mode="nearest")
    height = height.astype(np.float64)
    score = SHARP_ONLY_FACTOR * height / unit
    keep = score >= floor
    pos, score, height = pos[keep], score[keep], height[keep]
    keep = suppress_close(pos, score, sep_px, 1.0)
    return pos[keep], score[keep], height[keep]


def face_factor(
    pos: np.ndarray, shape: tuple[int, ...], diameter_px: tuple[float, float, float]
) -> np.ndarray:
    """Score multiplier of each detection: :data:`FACE_SCORE_FACTOR` right at a face, else 1.

    Parameters
    ----------
    pos : numpy.ndarray
        ``(N, 3)`` centres, voxels (voxel ``i`` spans ``i - 0.5 .. i + 0.5``).
    shape : tuple of int
        Shape of the volume.
    diameter_px : tuple of 3 float
        Particle diameter per axis, voxels.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` factors.
    """
    if len(pos) == 0:
        return np.ones(0)
    size = np.asarray(shape[:3], dtype=float)
    radius = np.asarray(diameter_px, dtype=float) / 2.0
    to_face = np.minimum(pos + 0.5, size - 0.5 - pos) / radius
    return np.where(np.any(to_face < FACE_MARGIN, axis=1), FACE_SCORE_FACTOR, 1.0)
