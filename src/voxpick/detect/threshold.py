"""The classical detector's automatic threshold and relative-height cut.

:func:`auto_threshold` chooses the score threshold from the noise statistics alone (random
field theory); :func:`typical_height` sets the scale of the ``min_relative`` cut.
"""

from __future__ import annotations

import math

import numpy as np

from voxpick.detect.filters import expected_noise_peaks

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
