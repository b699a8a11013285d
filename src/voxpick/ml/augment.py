"""Augmentations of training patches: geometry (flips, yx rotations) and intensity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from voxpick.nn.config import config_from_dict, config_to_dict


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation.

    Geometric augmentations respect the confocal anisotropy: any axis may be flipped, but
    rotations and transposes act in the (y, x) plane only (z stays the PSF's long axis).
    """

    flip: bool = True
    rotate_yx: bool = True
    #: Multiplicative contrast factor range.
    scale: tuple[float, float] = (0.75, 1.3)
    #: Additive offset range (normalised units).
    offset: tuple[float, float] = (-0.15, 0.15)
    #: Gamma range, applied with probability ``p_gamma``.
    gamma: tuple[float, float] = (0.7, 1.45)
    p_gamma: float = 0.3
    #: Extra Gaussian noise standard deviation (normalised units), with probability ``p_noise``.
    noise: tuple[float, float] = (0.0, 0.15)
    p_noise: float = 0.3

    def as_dict(self) -> dict[str, Any]:
        """Return the configuration as a JSON-serialisable dictionary."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentConfig:
        """Build from :meth:`as_dict` output (unknown keys are an error)."""
        return config_from_dict(cls, data)


def augment_geometry(
    image: np.ndarray, target: np.ndarray, gen: np.random.Generator, cfg: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the same random flips and yx rotation to a patch and its target.

    Parameters
    ----------
    image, target : numpy.ndarray
        Arrays (z, y, x) of equal shape; y and x must be equal for rotations.
    gen : numpy.random.Generator
        Randomness.
    cfg : AugmentConfig
        Which augmentations are on.

    Returns
    -------
    tuple of numpy.ndarray
        Contiguous augmented copies.
    """
    if cfg.flip:
        for axis in range(3):
            if gen.random() < 0.5:
                image = np.flip(image, axis)
                target = np.flip(target, axis)
    if cfg.rotate_yx and image.shape[1] == image.shape[2]:
        k = int(gen.integers(0, 4))
        image = np.rot90(image, k, axes=(1, 2))
        target = np.rot90(target, k, axes=(1, 2))
    return np.ascontiguousarray(image), np.ascontiguousarray(target)


def augment_intensity(
    image: np.ndarray, gen: np.random.Generator, cfg: AugmentConfig
) -> np.ndarray:
    """Random contrast, offset, gamma and extra noise on a normalised patch.

    Parameters
    ----------
    image : numpy.ndarray
        Normalised float32 patch (roughly 0..1).
    gen : numpy.random.Generator
        Randomness.
    cfg : AugmentConfig
        Strengths.

    Returns
    -------
    numpy.ndarray
        float32 patch.
    """
    out = image.astype(np.float32, copy=True)
    if gen.random() < cfg.p_gamma:
        lo, hi = float(out.min()), float(out.max())
        if hi > lo:
            unit = (out - lo) / (hi - lo)
            out = unit ** np.float32(gen.uniform(*cfg.gamma)) * (hi - lo) + lo
    out = out * np.float32(gen.uniform(*cfg.scale)) + np.float32(gen.uniform(*cfg.offset))
    if gen.random() < cfg.p_noise:
        sd = float(gen.uniform(*cfg.noise))
        out = out + sd * gen.standard_normal(out.shape, dtype=np.float32)
    return out.astype(np.float32, copy=False)
