"""Multi-class picking with a trained picker, and per-class thresholds that maximise F-beta.

Pipeline of :func:`pick`:

1. Resample the tomogram to the picker's voxel size (box-averaged first when shrinking by 1.5
   or more, with a box centred on each voxel) and normalise it
   (:func:`voxpick.cryoet.data.normalize_tomogram`).
2. Predict all maps block by block (:func:`voxpick.nn.predict.predict_channels`), with a margin
   of two of the largest class radii (at least 16 voxels), and take the softmax; with
   ``tta=True`` also for the tomogram turned by 180 degrees about each axis, averaging the
   probabilities.
3. Centres: the peaks of the *objectness* ``1 - p(background)``, smoothed with a Gaussian of a
   quarter of the smallest class radius (label balls become peaked at their centres), at least
   that radius apart, with sub-voxel refinement.
4. Each centre's class distribution is the class probabilities averaged over the label ball
   of the smallest class about it (half that class's radius, at least 1.5 voxels: the region
   training filled with the class) and renormalised without the background;
   ``score = objectness * share``.
5. A centre is reported under every class whose score reaches that class's threshold, so an
   ambiguous particle may be reported under two classes: this is what recall-weighted metrics
   such as CZII's F-beta 4 reward, and the thresholds chosen by
   :func:`voxpick.cryoet.choose_thresholds` decide how far to go. Within a class, of two picks
   closer than the class radius only the higher scoring is kept
   (:func:`voxpick.detect.maxima.suppress_close`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import ndimage

from voxpick.cryoet.data import PROPER_FLIPS, label_ball_radius, normalize_tomogram
from voxpick.cryoet.store import PickerModel, load_picker
from voxpick.detect.maxima import suppress_close
from voxpick.ml.infer import find_peaks
from voxpick.ml.scale import from_model_coords, to_model_scale
from voxpick.nn.predict import predict_channels
from voxpick.validation import check_volume

__all__ = ["MIN_OBJECTNESS", "PICK_COLUMNS", "box_average", "empty_picks", "pick"]

PICK_COLUMNS = ("particle_type", "z", "y", "x", "score")

#: Lowest smoothed objectness a centre needs to be considered at all.
MIN_OBJECTNESS = 0.02


def empty_picks() -> pd.DataFrame:
    """Return a picks frame with no rows and the fixed columns."""
    return pd.DataFrame(
        {
            "particle_type": pd.Series(dtype=object),
            **{c: pd.Series(dtype=np.float64) for c in PICK_COLUMNS[1:]},
        }
    )


def _voxel_triple(voxel_size: Any, default: float) -> tuple[float, float, float]:
    if voxel_size is None:
        return (default, default, default)
    vals = np.broadcast_to(np.asarray(voxel_size, dtype=float), (3,))
    if not np.all(np.isfinite(vals)) or np.any(vals <= 0):
        raise ValueError(
            f"voxel_size={voxel_size!r} is invalid: expected a positive number of Angstrom or "
            "a (z, y, x) triple, e.g. 10.012."
        )
    return (float(vals[0]), float(vals[1]), float(vals[2]))


def _centres(
    logits: np.ndarray, log_norm: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of the smoothed objectness ``1 - p(background)``: positions and heights."""
    objectness = -np.expm1(logits[0] - log_norm)
    smooth = ndimage.gaussian_filter(objectness, sigma=max(0.75, 0.25 * radius), mode="constant")
    smooth = np.clip(smooth, 1e-6, 1 - 1e-6)
    return find_peaks(
        np.log(smooth / (1 - smooth)),
        threshold=MIN_OBJECTNESS,
        peak_radius=max(1, round(0.3 * radius)),
        min_separation=max(1.5, radius),
    )


def ball_offsets(radius: float) -> np.ndarray:
    """Integer ``(n, 3)`` offsets of the voxels within ``radius`` of the origin (at least one)."""
    half = int(np.floor(radius))
    grid = np.mgrid[-half : half + 1, -half : half + 1, -half : half + 1].reshape(3, -1).T
    return grid[(grid**2).sum(axis=1) <= radius**2 + 1e-9]


def _class_shares(
    logits: np.ndarray, log_norm: np.ndarray, idx: np.ndarray, radius: float
) -> np.ndarray:
    """Class probabilities (background left out, renormalised) averaged over a ball.

    The ball, of ``radius`` voxels about each voxel of ``idx``, is the label ball of the
    smallest class (:func:`voxpick.cryoet.data.label_ball_radius`): the region training
    asked the network to fill with the particle's class, so every voxel of it is a vote.
    """
    shape = np.asarray(logits.shape[1:])
    total = np.zeros((len(idx), logits.shape[0] - 1))
    for off in ball_offsets(radius):
        pos = np.clip(idx + off, 0, shape - 1)
        at = (slice(None), pos[:, 0], pos[:, 1], pos[:, 2])
        total += np.exp(logits[at][1:] - log_norm[at[1:]]).T
    return total / np.maximum(total.sum(axis=1, keepdims=True), 1e-12)


def _progress_offset(
    progress: Callable[[int, int], None], n: int, of: int
) -> Callable[[int, int], None]:
    """Report pass ``n`` of ``of`` inference passes as part of one overall count."""
    return lambda done, total: progress(n * total + done, of * total)


def box_average(volume: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Mean over a box of ``size`` voxels per axis centred on each voxel (edges repeated).

    An even ``size`` ``n`` averages ``n + 1`` voxels with half weight on the two outer ones,
    so that the box stays centred: a plain even box would move every feature by half a voxel.

    Parameters
    ----------
    volume : numpy.ndarray
        3D volume.
    size : tuple of int
        Box edge per axis, voxels (1 leaves that axis alone).

    Returns
    -------
    numpy.ndarray
        float32, same shape.
    """
    out = np.asarray(volume, dtype=np.float32)
    for axis, n in enumerate(size):
        if n <= 1:
            continue
        if n % 2:
            out = ndimage.uniform_filter1d(out, n, axis=axis, mode="nearest")
        else:
            weights = np.ones(n + 1, dtype=np.float32)
            weights[[0, -1]] = 0.5
            out = ndimage.correlate1d(out, weights / n, axis=axis, mode="nearest")
    return out


def pick(
    volume: Any,
    *,
    model: PickerModel | str | Path | None = None,
    voxel_size: Any = None,
    thresholds: Mapping[str, float] | float | None = None,
    tile: int = 96,
    device: str | torch.device | None = None,
    progress: Callable[[int, int], None] | None = None,
    tta: bool = False,
) -> pd.DataFrame:
    """Pick particles of every class in a tomogram.

    Parameters
    ----------
    volume : array_like
        Tomogram (z, y, x), any real dtype, particles as in training (dark in cryo-ET).
    model : PickerModel, str or pathlib.Path, optional
        A loaded picker (:func:`voxpick.cryoet.load_picker`), the path ``DIR/NAME`` of one or
        the name of a shipped one; default the shipped ``picker_czii_synthetic_v1``.
    voxel_size : float or sequence of 3 float, optional
        Angstrom per voxel of ``volume``; default: the picker's own (no resampling).
    thresholds : mapping or float, optional
        Per-class minimum score; a float applies to every class (``0`` returns every
        candidate, for threshold selection). Default: the picker's saved thresholds.
    tile : int
        Core edge of one inference block (voxels at the picker's scale); lower saves memory.
    device : str or torch.device, optional
        Only used when ``model`` is not a loaded picker; ``None`` picks CUDA when available.
    progress : callable, optional
        Called as ``progress(done, total)`` after each inference block.
    tta : bool
        Test-time augmentation: also predict the tomogram turned by 180 degrees about each
        axis (turns keep the molecules' handedness and the missing wedge) and average the
        probabilities. Four times the time; steadier class assignments.

    Returns
    -------
    pandas.DataFrame
        ``particle_type, z, y, x`` (voxels of ``volume``) and ``score`` (objectness times the
        class's share, 0..1); sorted by decreasing score; the same columns with no
        rows when nothing is found.
    """
    picker = model if isinstance(model, PickerModel) else load_picker(model, device=device)
    vol = check_volume(volume)
    vs = _voxel_triple(voxel_size, picker.voxel_size)
    names = [c.name for c in picker.classes]
    if thresholds is None:
        thr = {n: float(picker.thresholds.get(n, 0.5)) for n in names}
    elif isinstance(thresholds, Mapping):
        unknown = set(thresholds) - set(names)
        if unknown:
            raise ValueError(f"thresholds for unknown classes {sorted(unknown)}: known {names}.")
        thr = {n: float(thresholds.get(n, picker.thresholds.get(n, 0.5))) for n in names}
    else:
        thr = dict.fromkeys(names, float(thresholds))
    zoom = tuple(v / picker.voxel_size for v in vs)
    work = vol
    if min(zoom) < 1 / 1.5:  # shrinking: box-average first against aliasing
        work = box_average(vol, tuple(max(1, round(1 / z)) for z in zoom))
    scaled, eff = to_model_scale(work, zoom)
    image = normalize_tomogram(scaled)
    radii = picker.radius_voxels()
    margin = max(16, math.ceil(2 * max(radii.values())))
    turns = PROPER_FLIPS if tta else ((),)

    def log_probabilities(n: int) -> np.ndarray:
        axes = turns[n]
        out = predict_channels(
            np.flip(image, axes).copy() if axes else image, picker.net, device=picker.device,
            size_multiple=picker.spec.size_multiple, tile=tile, margin=margin,
            progress=None if progress is None else _progress_offset(progress, n, len(turns)),
        )  # fmt: skip
        out = np.flip(out, tuple(a + 1 for a in axes)) if axes else out
        out -= np.logaddexp.reduce(out, axis=0)  # in place: one copy of the maps in memory
        return out

    logits = log_probabilities(0)
    for n in range(1, len(turns)):  # running log of the summed probabilities (bounded memory)
        np.logaddexp(logits, log_probabilities(n), out=logits)
    logits -= math.log(len(turns))  # log of the mean probabilities: normalised, log_norm 0
    log_norm = np.zeros(logits.shape[1:], dtype=logits.dtype)
    points, heights = _centres(logits, log_norm, min(radii.values()))
    if len(points) == 0:
        return empty_picks()
    idx = np.clip(np.rint(points).astype(int), 0, np.asarray(image.shape) - 1)
    shares = _class_shares(logits, log_norm, idx, label_ball_radius(min(radii.values())))
    pos = from_model_coords(points, eff)
    frames = []
    for k, name in enumerate(names):
        score = heights * shares[:, k]
        order = np.argsort(-score, kind="stable")
        order = order[score[order] >= thr[name]]
        if len(order) == 0:
            continue
        order = order[suppress_close(points[order], score[order], (1.0, 1.0, 1.0), radii[name])]
        frames.append(
            pd.DataFrame(
                {
                    "particle_type": name,
                    "z": pos[order, 0], "y": pos[order, 1], "x": pos[order, 2],
                    "score": score[order],
                }
            )
        )  # fmt: skip
    if not frames:
        return empty_picks()
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
