"""Noise model: photon shot noise set by the challenge's SNR and CNR.

Definitions (colloid challenge): ``SNR = f_mean / f_sigma`` and
``CNR = |f_mean - b_mean| / sqrt((f_sigma**2 + b_sigma**2) / 2)``, where ``f_*`` are the mean and
standard deviation of the particles' (foreground) voxels and ``b_*`` those of the background.

A confocal detector counts photons, so the noise variance grows with the intensity:
``sigma(I)**2 = f_sigma**2 * I / f_mean`` (shot noise in its Gaussian limit). Then
``b_sigma**2 = f_sigma**2 * b_mean / f_mean`` and, writing ``u = b_mean / f_mean`` and
``q = (CNR / SNR)**2``, the CNR definition becomes ``q (1 + u) / 2 = (1 - u)**2``, a quadratic in
``u`` with one root below 1 (bright particles) and one above 1 (dark particles). Given the
particle brightness, SNR and CNR therefore fix the background level and both noise levels.
"""

from __future__ import annotations

import math

import numpy as np


def noise_levels(
    f_mean: float, *, snr: float, cnr: float, invert: bool = False
) -> tuple[float, float, float]:
    """Background level and noise levels that realise ``snr`` and ``cnr`` exactly.

    Parameters
    ----------
    f_mean : float
        Mean particle (foreground) intensity.
    snr : float
        Signal-to-noise ratio ``f_mean / f_sigma``.
    cnr : float
        Contrast-to-noise ratio (see module docstring).
    invert : bool
        Dark particles: the background is brighter than the particles.

    Returns
    -------
    tuple of float
        ``(b_mean, f_sigma, b_sigma)``.

    Examples
    --------
    >>> b_mean, f_sigma, b_sigma = noise_levels(200.0, snr=3.0, cnr=3.0)
    >>> round(b_mean, 1), round(f_sigma, 1), round(b_sigma, 1)
    (43.8, 66.7, 31.2)
    """
    if snr <= 0 or cnr < 0:
        raise ValueError(f"snr={snr} and cnr={cnr} must be positive.")
    q = (cnr / snr) ** 2
    root = math.sqrt(4.0 * q + q * q / 4.0)
    u = (2.0 + q / 2.0 + root) / 2.0 if invert else (2.0 + q / 2.0 - root) / 2.0
    if u < 0:
        raise ValueError(
            f"cnr={cnr} is too high for snr={snr}: bright particles need cnr <= sqrt(2) * snr "
            f"= {math.sqrt(2) * snr:.2f} (else the background would be negative). Lower cnr."
        )
    f_sigma = f_mean / snr
    b_mean = u * f_mean
    return b_mean, f_sigma, f_sigma * math.sqrt(u)


def add_shot_noise(
    image: np.ndarray, *, f_mean: float, f_sigma: float, rng: np.random.Generator
) -> np.ndarray:
    """Add Gaussian noise whose variance is ``f_sigma**2 * I / f_mean`` at intensity ``I``.

    Parameters
    ----------
    image : numpy.ndarray
        Noise-free image (float).
    f_mean, f_sigma : float
        Foreground mean and its noise standard deviation.
    rng : numpy.random.Generator
        Randomness.

    Returns
    -------
    numpy.ndarray
        float32 noisy image (not clipped).
    """
    scale = np.sqrt(np.clip(image, 0.0, None) / f_mean, dtype=np.float32) * np.float32(f_sigma)
    noise = rng.standard_normal(size=image.shape, dtype=np.float32)
    return (image + noise * scale).astype(np.float32)
