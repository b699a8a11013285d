"""A classical cryo-ET picker: Laplacian-of-Gaussian blobs, classed by their size.

The baseline against which the learned pickers are judged (``docs/cryoet.md``, "Choosing a
picker"). It needs no training, only the classes' radii, and knows nothing of a particle's
shape: two classes of about the same size cannot be told apart.

Pipeline of :func:`pick_blobs`:

1. Invert the tomogram (particles are dark in cryo-ET) unless told otherwise. When the
   smallest class radius spans :data:`MIN_RADIUS_VOXELS` voxels or more times an integer
   ``n >= 2``, box-average and keep every ``n``-th voxel first (positions are given back in
   voxels of the tomogram): the blobs stay resolved and the filters run ``n^3`` times faster.
2. For every class, the scale-normalised Laplacian of Gaussian
   (:func:`voxpick.detect.filters.log_filter`) at ``sigma = radius / sqrt(3)``, the scale at
   which it responds most to a uniform sphere of that radius. Each response is divided by its
   robust noise level (1.4826 times the median absolute deviation), which makes it a
   signal-to-noise ratio.
3. Scale selection: every voxel keeps the class whose normalised response is the largest
   (the class whose radius is closest to the blob's size), and that response.
4. Centres: the local maxima of the kept response (:func:`voxpick.detect.maxima.local_maxima`,
   refined to sub-voxel positions by :func:`voxpick.detect.maxima.refine_quadratic`; none on
   the outermost voxels, where the filter meets the face) at least
   the smallest class radius apart (:func:`voxpick.detect.maxima.suppress_close`), then within
   each class at least that class's radius apart, as :func:`voxpick.cryoet.pick` does.
5. ``score = snr / (1 + snr)`` (0..1, 0.5 at a signal-to-noise ratio of 1), so that the
   per-class thresholds of :func:`voxpick.cryoet.choose_thresholds` apply. The score is no
   probability: choose them with ``prior=0`` (plain Platt scaling; the default prior pulls
   the calibration towards "the scores are probabilities", which puts the cut far too low).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from voxpick.cryoet.picking import box_average, collect_picks, empty_picks
from voxpick.cryoet.store import PickerClass, check_classes
from voxpick.detect.filters import log_filter
from voxpick.detect.maxima import local_maxima, refine_quadratic, suppress_close
from voxpick.validation import as_triple, check_number, check_volume

__all__ = ["MIN_BLOB_SNR", "MIN_RADIUS_VOXELS", "pick_blobs"]

#: Lowest signal-to-noise ratio (score 0.5) a blob needs to be a candidate at all.
MIN_BLOB_SNR = 1.0

#: The tomogram is binned as long as the smallest class radius keeps this many voxels.
MIN_RADIUS_VOXELS = 2.5

#: At most this many voxels are read to estimate one response's noise level.
_NOISE_SAMPLE = 2_000_000


def _noise_level(response: np.ndarray) -> float:
    """Robust standard deviation (1.4826 MAD) of a response, from an even subsample."""
    flat = response.ravel()
    step = max(1, flat.size // _NOISE_SAMPLE)
    sample = flat[::step].astype(np.float64)
    mad = float(np.median(np.abs(sample - np.median(sample))))
    return max(1.4826 * mad, 1e-12)


def _class_list(classes: Any) -> tuple[PickerClass, ...]:
    if isinstance(classes, Mapping):
        classes = [PickerClass(str(k), float(v)) for k, v in classes.items()]
    return check_classes(classes)


def _thresholds(value: Any, names: list[str]) -> dict[str, float]:
    hint = "Scores run from 0 to 1 (0.5 at a signal-to-noise ratio of 1)."
    if isinstance(value, Mapping):
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(f"thresholds for unknown classes {sorted(unknown)}: known {names}.")
        missing = set(names) - set(value)
        if missing:
            raise ValueError(
                f"thresholds lack classes {sorted(missing)}: give every class a threshold, or "
                "one number for all."
            )
        return {
            n: check_number(value[n], name=f"thresholds[{n!r}]", lo=0.0, hi=1.0, hint=hint)
            for n in names
        }
    return dict.fromkeys(names, check_number(value, name="thresholds", lo=0.0, hi=1.0, hint=hint))


def pick_blobs(
    volume: Any,
    *,
    classes: Sequence[PickerClass] | Mapping[str, float],
    voxel_size: Any,
    thresholds: Mapping[str, float] | float = 0.75,
    invert: bool = True,
    min_snr: float = MIN_BLOB_SNR,
    workers: int | None = None,
) -> pd.DataFrame:
    """Pick particles as Laplacian-of-Gaussian blobs, each given the class of closest size.

    Parameters
    ----------
    volume : array_like
        Tomogram (z, y, x), any real dtype.
    classes : sequence of PickerClass or mapping
        The classes and their radii in Angstrom (``{name: radius_A}`` works too), e.g. a
        picker's ``classes``.
    voxel_size : float or sequence of 3 float
        Angstrom per voxel of ``volume``.
    thresholds : mapping or float
        Per-class minimum score (``{name: score}`` for every class, or one number for all);
        ``0`` returns every candidate, for :func:`voxpick.cryoet.choose_thresholds`. The
        default 0.75 is a signal-to-noise ratio of 3.
    invert : bool
        Particles are dark (cryo-ET); ``False`` for bright particles.
    min_snr : float
        Lowest signal-to-noise ratio of a candidate.
    workers : int, optional
        FFT threads (default: the usable cores, at most 8).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`voxpick.cryoet.pick`: ``particle_type, z, y, x`` (voxels of
        ``volume``) and ``score``, ``snr / (1 + snr)``; sorted by decreasing score; no rows
        when nothing is found.

    Examples
    --------
    >>> from voxpick.cryoet import pick_blobs, simulate_tomogram
    >>> vol, truth = simulate_tomogram((64, 96, 96), counts=2, rng=0)
    >>> picks = pick_blobs(vol, classes={"apo-ferritin": 60.0, "ribosome": 150.0},
    ...                    voxel_size=10.0)
    >>> list(picks.columns)
    ['particle_type', 'z', 'y', 'x', 'score']
    """
    cls = _class_list(classes)
    names = [c.name for c in cls]
    vol = check_volume(volume)
    vs = np.asarray(as_triple(voxel_size, name="voxel_size"), dtype=float)
    thr = _thresholds(thresholds, names)
    min_snr = check_number(min_snr, name="min_snr", lo=0.0, hi=1e6, hint="E.g. 1.")
    # bin by n while the smallest radius keeps MIN_RADIUS_VOXELS voxels (on the coarsest axis)
    factor = max(1, int(min(c.radius_A for c in cls) / float(vs.max()) // MIN_RADIUS_VOXELS))
    work = np.asarray(vol, dtype=np.float32)
    if factor > 1:  # centred box average, then every factor-th voxel: voxel i is voxel f*i
        work = box_average(work, (factor,) * 3)[::factor, ::factor, ::factor].copy()
        vs = vs * factor
    if invert:
        work = -work
    best: np.ndarray | None = None
    which = np.zeros(work.shape, dtype=np.int16)
    for k, c in enumerate(cls):
        sigma = tuple(float(c.radius_A / v / math.sqrt(3.0)) for v in vs)
        band = log_filter(work, (sigma[0], sigma[1], sigma[2]), margin=0, workers=workers)
        snr = band.response
        snr /= np.float32(_noise_level(snr))
        if best is None:
            best = snr
        else:
            better = snr > best
            which[better] = k
            np.maximum(best, snr, out=best)
        del band
    assert best is not None
    radii_vox = np.array([[c.radius_A / v for v in vs] for c in cls])  # (K, 3)
    smallest = float(radii_vox.min())
    half = max(1, round(0.3 * smallest))
    peaks = local_maxima(best, float(min_snr), (half, half, half))
    # a maximum on the outermost voxels is the filter meeting the face, not a blob
    peaks = peaks[np.all((peaks > 0) & (peaks < np.asarray(best.shape) - 1), axis=1)]
    if len(peaks) == 0:
        return empty_picks()
    points, heights = refine_quadratic(best, peaks)
    label = which[peaks[:, 0], peaks[:, 1], peaks[:, 2]].astype(np.int64)
    inv_scale = (1.0 / vs[0], 1.0 / vs[1], 1.0 / vs[2])  # distances in Angstrom
    keep = suppress_close(points, heights, inv_scale, min(c.radius_A for c in cls))
    points, heights, label = points[keep], heights[keep], label[keep]
    score = heights / (1.0 + heights)
    parts = []
    for k, name in enumerate(names):
        sel = np.flatnonzero((label == k) & (score >= thr[name]))
        if len(sel) == 0:
            continue
        sel = sel[suppress_close(points[sel], score[sel], inv_scale, cls[k].radius_A)]
        parts.append((name, points[sel] * factor, score[sel]))
    return collect_picks(parts)
