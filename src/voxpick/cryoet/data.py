"""Training data of the multi-class picker: labelled tomograms and their label maps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from voxpick.cryoet.store import PickerClass
from voxpick.validation import check_volume

#: The 180-degree rotations about the three axes (and the identity), as the pairs of axes to
#: flip. They keep a molecule's handedness and map a missing wedge about any axis onto itself.
PROPER_FLIPS: tuple[tuple[int, ...], ...] = ((), (0, 1), (0, 2), (1, 2))
#: A particle is labelled inside a ball of this fraction of its class radius...
BALL_FRACTION = 0.5
#: ...but at least this many voxels.
MIN_BALL = 1.5
#: Intensities are clipped to +-this many standard deviations after normalisation.
CLIP_SIGMAS = 5.0


def label_ball_radius(radius: Any, *, ball_fraction: float = BALL_FRACTION) -> Any:
    """Radius of a particle's label ball: ``max(MIN_BALL, ball_fraction * radius)`` (voxels).

    Parameters
    ----------
    radius : float or numpy.ndarray
        Particle (class) radius in voxels; an array gives one ball radius per element.
    ball_fraction : float
        Fraction of the particle radius labelled.

    Returns
    -------
    float or numpy.ndarray
        A float for a scalar ``radius``, else an array of the same shape.
    """
    balls = np.maximum(MIN_BALL, ball_fraction * np.asarray(radius, dtype=float))
    return float(balls) if balls.ndim == 0 else balls


def tomogram_levels(
    volume: np.ndarray, *, max_samples: int = 2_000_000
) -> tuple[float, float] | None:
    """Median and robust spread (1.4826 MAD) of a tomogram; None when it is constant.

    Parameters
    ----------
    volume : numpy.ndarray
        Tomogram (z, y, x), any real dtype.
    max_samples : int
        The statistics are estimated from at most this many evenly strided voxels.

    Returns
    -------
    tuple of float or None
        ``(centre, spread)`` for :func:`apply_levels`.
    """
    flat = volume.reshape(-1)
    step = max(1, flat.size // max_samples)
    sample = flat[::step].astype(np.float64)
    centre = float(np.median(sample))
    spread = 1.4826 * float(np.median(np.abs(sample - centre)))
    if not spread > 0:
        spread = float(sample.std())
    if not spread > 0:
        return None
    return centre, spread


def apply_levels(volume: np.ndarray, levels: tuple[float, float] | None) -> np.ndarray:
    """Map a tomogram (or any part of it) to the picker's input scale with given levels.

    Parameters
    ----------
    volume : numpy.ndarray
        Tomogram or a block of it, any real dtype.
    levels : tuple of float or None
        From :func:`tomogram_levels` of the whole tomogram; None gives zeros.

    Returns
    -------
    numpy.ndarray
        float32 ``(volume - centre) / spread`` clipped to +-5, same shape.
    """
    if levels is None:
        return np.zeros(volume.shape, dtype=np.float32)
    centre, spread = levels
    out = (volume.astype(np.float32) - np.float32(centre)) / np.float32(spread)
    return np.clip(out, -CLIP_SIGMAS, CLIP_SIGMAS, out=out)


def normalize_tomogram(volume: np.ndarray, *, max_samples: int = 2_000_000) -> np.ndarray:
    """Zero median, unit robust spread (1.4826 MAD), clipped to +-5: the picker's input scale.

    Parameters
    ----------
    volume : numpy.ndarray
        Tomogram (z, y, x), any real dtype.
    max_samples : int
        The statistics are estimated from at most this many evenly strided voxels.

    Returns
    -------
    numpy.ndarray
        float32, same shape. A constant volume gives zeros.
    """
    return apply_levels(volume, tomogram_levels(volume, max_samples=max_samples))


@dataclass
class LabelledTomogram:
    """A tomogram at the picker's voxel size with its picks, ready for training.

    Attributes
    ----------
    image : numpy.ndarray
        Normalised float32 volume (:func:`normalize_tomogram`).
    labels : numpy.ndarray
        uint8 target: 0 for background, ``k + 1`` inside the label ball of a class-``k``
        particle (:func:`make_labels`).
    centres : numpy.ndarray
        ``(N, 3)`` centres in voxels, used to draw crops around particles.
    name : str
        Where it came from (run or file name).
    """

    image: np.ndarray
    labels: np.ndarray
    centres: np.ndarray
    name: str = ""


def make_labels(
    shape: Sequence[int],
    centres: np.ndarray,
    class_index: np.ndarray,
    radii: Sequence[float],
    *,
    ball_fraction: float = BALL_FRACTION,
) -> np.ndarray:
    """Label map for particles of several classes: a ball per particle, 0 elsewhere.

    Parameters
    ----------
    shape : sequence of 3 int
        Volume shape (z, y, x).
    centres : numpy.ndarray
        ``(N, 3)`` particle centres in voxels (z, y, x).
    class_index : numpy.ndarray
        ``(N,)`` index into ``radii`` of each particle.
    radii : sequence of float
        Radius of each class in voxels.
    ball_fraction : float
        Each particle's ball has radius :func:`label_ball_radius`; where balls
        overlap, the centre nearer relative to its ball's radius wins.

    Returns
    -------
    numpy.ndarray
        uint8: 0 background, ``k + 1`` for class ``k``.
    """
    shape = tuple(int(n) for n in shape)
    labels = np.zeros(shape, dtype=np.uint8)
    best = np.full(shape, np.inf, dtype=np.float32)  # relative distance of the label owner
    for centre, k in zip(np.asarray(centres, float), np.asarray(class_index, int), strict=True):
        ball = label_ball_radius(float(radii[k]), ball_fraction=ball_fraction)
        half = int(np.ceil(ball)) + 1
        lo = np.maximum(np.floor(centre).astype(int) - half, 0)
        hi = np.minimum(np.floor(centre).astype(int) + half + 2, shape)
        if np.any(hi <= lo):
            continue
        grids = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
        d2 = sum((g - c) ** 2 for g, c in zip(grids, centre, strict=True))
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        rel = (np.sqrt(d2) / ball).astype(np.float32)
        own = (rel <= 1.0) & (rel < best[box])
        labels[box][own] = k + 1
        best[box][own] = rel[own]
    return labels


def labelled_tomogram(
    volume: np.ndarray,
    picks: pd.DataFrame,
    classes: Sequence[PickerClass],
    *,
    voxel_size: float,
    name: str = "",
) -> LabelledTomogram:
    """Build a training tomogram from a volume and its picks at the picker's voxel size.

    Parameters
    ----------
    volume : numpy.ndarray
        Tomogram (z, y, x) already at the picker's voxel size.
    picks : pandas.DataFrame
        Columns ``particle_type`` and ``z, y, x`` in voxels of ``volume``. Picks of types not
        in ``classes`` are ignored.
    classes : sequence of PickerClass
        The picker's classes.
    voxel_size : float
        Angstrom per voxel of ``volume`` (turns the class radii into voxels).
    name : str
        Label for messages.

    Returns
    -------
    LabelledTomogram
    """
    vol = check_volume(volume, name=name or "volume")
    missing = {"particle_type", "z", "y", "x"} - set(picks.columns)
    if missing:
        raise ValueError(
            f"picks of {name or 'the tomogram'} lack columns {sorted(missing)}: expected "
            "particle_type, z, y, x (voxels)."
        )
    index = {c.name: i for i, c in enumerate(classes)}
    known = picks["particle_type"].isin(index)
    sel = picks.loc[known]
    centres = sel[["z", "y", "x"]].to_numpy(float)
    cls = sel["particle_type"].map(index).to_numpy(int)
    radii = [c.radius_A / voxel_size for c in classes]
    labels = make_labels(vol.shape, centres, cls, radii)
    return LabelledTomogram(
        image=normalize_tomogram(vol), labels=labels, centres=centres, name=name
    )
