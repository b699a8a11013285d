"""Multi-class picking with a trained picker, and per-class thresholds that maximise F-beta.

Pipeline of :func:`pick`:

1. Resample the tomogram to the picker's voxel size (box-averaged first when shrinking by 1.5
   or more, with a box centred on each voxel) and normalise it
   (:func:`voxpick.cryoet.data.normalize_tomogram`).
2. Predict all maps block by block (:func:`voxpick.nn.predict.predict_blocks`), with a margin
   of two of the largest class radii (at least 16 voxels), and take the softmax; with
   ``tta=True`` also for the tomogram turned by 180 degrees about each axis, averaging the
   probabilities. Without ``tta``, steps 3 and 4 run on each block as it comes (its core plus
   a halo of a few voxels predicted with the block), so no map of the whole tomogram is held.
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

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import torch
from scipy import ndimage, special

from voxpick.cryoet.data import PROPER_FLIPS, apply_levels, label_ball_radius, tomogram_levels
from voxpick.cryoet.store import PickerModel, load_picker
from voxpick.detect.maxima import suppress_close
from voxpick.ml.infer import heatmap_maxima, refine_peaks, strongest_apart
from voxpick.ml.scale import from_model_coords, to_model_scale
from voxpick.nn.predict import predict_blocks, predict_channels
from voxpick.validation import as_triple, check_number, check_volume

if TYPE_CHECKING:
    from voxpick.cryoet.classify import ClassRefiner

__all__ = [
    "MIN_OBJECTNESS",
    "PICK_COLUMNS",
    "PICK_TILE",
    "box_average",
    "collect_picks",
    "empty_picks",
    "pick",
    "picker_classifier",
]

PICK_COLUMNS = ("particle_type", "z", "y", "x", "score")

#: Default core edge of one inference block (voxels at the picker's scale): a 184 x 630 x 630
#: tomogram runs in 5 x 5 blocks of at most 184 x 192 x 192 voxels with their margins, about
#: 1.5 GB of network buffers (96 did 3.5 times the network work of one block; 128 does 2).
PICK_TILE = 128

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


#: Largest factor between a tomogram's voxel size and its picker's, either way (beyond it the
#: units are wrong: resampling by more would be meaningless, and could not fit in memory).
MAX_RESCALE = 20.0


def _voxel_triple(voxel_size: Any, default: float) -> tuple[float, float, float]:
    if voxel_size is None:
        return (default, default, default)
    vals = as_triple(voxel_size, name="voxel_size")
    ratio = max(max(v / default, default / v) for v in vals)
    if ratio > MAX_RESCALE:
        raise ValueError(
            f"voxel_size={voxel_size!r} Angstrom differs from the picker's {default:g} Angstrom "
            f"by a factor {ratio:.3g}: expected within a factor {MAX_RESCALE:g} (the tomogram is "
            "resampled to the picker's voxel size). Check the units: Angstrom per voxel."
        )
    return vals


def _threshold(value: Any, *, name: str) -> float:
    return check_number(value, name=name, lo=0.0, hi=1.0, hint="Scores run from 0 to 1.")


class _Finder:
    """Centres and class shares in one region of the probability maps (steps 3 and 4).

    Every step is local: a region holding a core plus :attr:`halo` voxels around it (the
    Gaussian's reach, the peak box and the ball) gives for the peaks in the core the numbers
    the same maps of the whole tomogram give; :func:`pick` merges the cores' candidates and
    keeps the strongest apart (:func:`voxpick.ml.infer.strongest_apart`) as a whole run does.
    """

    def __init__(self, radius: float) -> None:
        self.sigma = max(0.75, 0.25 * radius)
        self.peak_radius = max(1, round(0.3 * radius))
        self.separation = max(1.5, radius)
        self.ball = label_ball_radius(radius)
        reach = int(4.0 * self.sigma + 0.5)  # scipy's Gaussian: truncate 4 sigma
        self.halo = reach + max(self.peak_radius, math.ceil(self.ball), 1) + 1

    def candidates(
        self, logp: np.ndarray, core: tuple[slice, ...], origin: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Peaks in ``core`` of a region's log-probabilities ``logp`` ``(1 + K, ...)``.

        ``origin`` is the region's first voxel in the tomogram.
        Returns integer peaks and refined positions (tomogram voxels), smoothed objectness
        logits at the peaks, and class shares ``(N, K)``.
        """
        objectness = -np.expm1(logp[0])
        smooth = ndimage.gaussian_filter(objectness, sigma=self.sigma, mode="constant")
        np.clip(smooth, 1e-6, 1 - 1e-6, out=smooth)
        special.logit(smooth, out=smooth)  # in place: one copy of the map
        idx = heatmap_maxima(smooth, threshold=MIN_OBJECTNESS, peak_radius=self.peak_radius)
        lo = np.array([c.start for c in core])
        hi = np.array([c.stop for c in core])
        idx = idx[np.all((idx >= lo) & (idx < hi), axis=1)]
        values = smooth[idx[:, 0], idx[:, 1], idx[:, 2]].astype(np.float64)
        points = refine_peaks(smooth, idx)
        near = np.clip(np.rint(points).astype(np.int64), 0, np.asarray(smooth.shape) - 1)
        shares = _class_shares(logp, near, self.ball)
        # a region's face inside the tomogram is never within reach of a core peak, so the
        # face rules of the refinement and of the ball apply only where the tomogram ends
        at = np.asarray(origin, dtype=np.int64)
        return idx + at, points + at, values, shares


def ball_offsets(radius: float) -> np.ndarray:
    """Integer ``(n, 3)`` offsets of the voxels within ``radius`` of the origin (at least one)."""
    half = int(np.floor(radius))
    grid = np.mgrid[-half : half + 1, -half : half + 1, -half : half + 1].reshape(3, -1).T
    return grid[(grid**2).sum(axis=1) <= radius**2 + 1e-9]


def _class_shares(logp: np.ndarray, idx: np.ndarray, radius: float) -> np.ndarray:
    """Class probabilities (background left out, renormalised) averaged over a ball.

    The ball, of ``radius`` voxels about each voxel of ``idx``, is the label ball of the
    smallest class (:func:`voxpick.cryoet.data.label_ball_radius`): the region training
    asked the network to fill with the particle's class, so every voxel of it is a vote.
    ``logp`` holds the log-probabilities ``(1 + n_classes, Z, Y, X)``, background first.
    """
    shape = np.asarray(logp.shape[1:])
    total = np.zeros((len(idx), logp.shape[0] - 1))
    for off in ball_offsets(radius):
        pos = np.clip(idx + off, 0, shape - 1)
        total += np.exp(logp[1:, pos[:, 0], pos[:, 1], pos[:, 2]]).T
    return total / np.maximum(total.sum(axis=1, keepdims=True), 1e-12)


def _progress_offset(
    progress: Callable[[int, int], None], n: int, of: int
) -> Callable[[int, int], None]:
    """Report pass ``n`` of ``of`` inference passes as part of one overall count."""
    return lambda done, total: progress(n * total + done, of * total)


def collect_picks(parts: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Join the picks of every class into one frame of :data:`PICK_COLUMNS`.

    Parameters
    ----------
    parts : sequence of (str, numpy.ndarray, numpy.ndarray)
        Per class: its name, positions ``(N, 3)`` (z, y, x) and scores ``(N,)``.

    Returns
    -------
    pandas.DataFrame
        Sorted by decreasing score (stable); :func:`empty_picks` when there is no pick.
    """
    frames = [
        pd.DataFrame(
            {"particle_type": name, "z": pos[:, 0], "y": pos[:, 1], "x": pos[:, 2], "score": score}
        )
        for name, pos, score in parts
        if len(score)
    ]
    if not frames:
        return empty_picks()
    out = pd.concat(frames, ignore_index=True)[list(PICK_COLUMNS)]
    return out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def picker_classifier(picker: PickerModel) -> ClassRefiner | None:
    """Return the second stage saved with a picker (``info["classifier"]``), or ``None``.

    Parameters
    ----------
    picker : PickerModel

    Returns
    -------
    ClassRefiner or None
    """
    doc = picker.info.get("classifier")
    if doc is None:
        return None
    from voxpick.cryoet.classify import class_refiner_from_dict

    return class_refiner_from_dict(
        doc, source=f"the second stage of picker {picker.info.get('name', '')}".rstrip()
    )


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


def _tta_log_probabilities(
    image: np.ndarray,
    picker: PickerModel,
    *,
    tile: int,
    margin: int,
    progress: Callable[[int, int], None] | None,
) -> np.ndarray:
    """Log of the class probabilities averaged over the tomogram and its three turns."""
    turns = PROPER_FLIPS
    out: np.ndarray | None = None
    for n, axes in enumerate(turns):
        flipped = np.flip(image, axes).copy() if axes else image
        maps = predict_channels(
            flipped, picker.net, device=picker.device, size_multiple=picker.spec.size_multiple,
            tile=tile, margin=margin,
            progress=None if progress is None else _progress_offset(progress, n, len(turns)),
        )  # fmt: skip
        maps = np.flip(maps, tuple(a + 1 for a in axes)) if axes else maps
        maps -= np.logaddexp.reduce(maps, axis=0)  # in place: one copy of the maps in memory
        out = maps if out is None else np.logaddexp(out, maps, out=out)
    assert out is not None
    out -= math.log(len(turns))
    return out


def _candidates(
    volume: np.ndarray,
    picker: PickerModel,
    finder: _Finder,
    *,
    tile: int,
    margin: int,
    progress: Callable[[int, int], None] | None,
    tta: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every core's candidates (see :meth:`_Finder.candidates`), concatenated.

    ``volume`` is at the picker's voxel size, not yet normalised. Without ``tta`` each block is
    normalised as it is read and reduced to its candidates at once, so neither a normalised copy
    nor a map of the whole tomogram is kept; with ``tta`` the four passes are averaged whole.
    """
    levels = tomogram_levels(volume)
    if tta:
        image = apply_levels(volume, levels)
        logp = _tta_log_probabilities(image, picker, tile=tile, margin=margin, progress=progress)
        whole = (slice(0, image.shape[0]), slice(0, image.shape[1]), slice(0, image.shape[2]))
        return finder.candidates(logp, whole, (0, 0, 0))
    parts = []
    for where, maps, core in predict_blocks(
        volume, picker.net, device=picker.device, size_multiple=picker.spec.size_multiple,
        tile=tile, margin=margin, progress=progress, keep=finder.halo,
        prepare=functools.partial(apply_levels, levels=levels),
    ):  # fmt: skip
        maps -= np.logaddexp.reduce(maps, axis=0)  # log-probabilities
        parts.append(finder.candidates(maps, core, [w.start for w in where]))
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.concatenate([p[3] for p in parts]),
    )


def pick(
    volume: Any,
    *,
    model: PickerModel | str | Path | None = None,
    voxel_size: Any = None,
    thresholds: Mapping[str, float] | float | None = None,
    tile: int = PICK_TILE,
    device: str | torch.device | None = None,
    progress: Callable[[int, int], None] | None = None,
    tta: bool = False,
    classifier: ClassRefiner | Literal[False] | None = None,
) -> pd.DataFrame:
    """Pick particles of every class in a tomogram.

    Parameters
    ----------
    volume : array_like
        Tomogram (z, y, x), any real dtype, particles as in training (dark in cryo-ET).
    model : PickerModel, str or pathlib.Path, optional
        A loaded picker (:func:`voxpick.cryoet.load_picker`), the path ``DIR/NAME`` of one or
        the name of a shipped one; default the shipped :data:`~voxpick.cryoet.DEFAULT_PICKER`.
    voxel_size : float or sequence of 3 float, optional
        Angstrom per voxel of ``volume``; default: the picker's own (no resampling).
    thresholds : mapping or float, optional
        Per-class minimum score; a float applies to every class (``0`` returns every
        candidate, for threshold selection). Default: the picker's saved thresholds (those
        chosen without its second stage when ``classifier=False`` turns that off).
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
    classifier : ClassRefiner or False, optional
        A second stage for look-alike classes (:func:`voxpick.cryoet.fit_class_refiner`): its
        class probabilities replace the class shares (choose thresholds with it on). Default:
        the picker's own second stage when it has one (the shipped picker does), else none;
        ``False``: none.

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
    saved = picker.thresholds
    if classifier is None:
        classifier = picker_classifier(picker)
    elif classifier is False:
        own = picker.info.get("classifier") is not None
        saved = picker.info.get("network_thresholds", saved) if own else saved
        classifier = None
    if thresholds is None:
        thr = {n: float(saved.get(n, 0.5)) for n in names}
    elif isinstance(thresholds, Mapping):
        unknown = set(thresholds) - set(names)
        if unknown:
            raise ValueError(f"thresholds for unknown classes {sorted(unknown)}: known {names}.")
        thr = {
            n: _threshold(thresholds[n], name=f"thresholds[{n!r}]")
            if n in thresholds
            else float(saved.get(n, 0.5))
            for n in names
        }
    else:
        thr = dict.fromkeys(names, _threshold(thresholds, name="thresholds"))
    zoom = tuple(v / picker.voxel_size for v in vs)
    work = vol
    if min(zoom) < 1 / 1.5:  # shrinking: box-average first against aliasing
        work = box_average(vol, tuple(max(1, round(1 / z)) for z in zoom))
    scaled, eff = to_model_scale(work, zoom)
    radii = picker.radius_voxels()
    finder = _Finder(min(radii.values()))
    margin = max(16, math.ceil(2 * max(radii.values())), finder.halo)
    idx, points, values, shares = _candidates(
        scaled, picker, finder, tile=tile, margin=margin, progress=progress, tta=tta
    )
    if len(idx) == 0:
        return empty_picks()
    keep = strongest_apart(idx, values, finder.separation)
    points, shares = points[keep], shares[keep]
    if classifier is not None:  # the second stage, at the picker's scale
        shares = classifier.class_probabilities(scaled, points, shares=shares, classes=names)
    heights = 1.0 / (1.0 + np.exp(-values[keep]))
    pos = from_model_coords(points, eff)
    parts = []
    for k, name in enumerate(names):
        score = heights * shares[:, k]
        order = np.argsort(-score, kind="stable")
        order = order[score[order] >= thr[name]]
        if len(order) == 0:
            continue
        order = order[suppress_close(points[order], score[order], (1.0, 1.0, 1.0), radii[name])]
        parts.append((name, pos[order], score[order]))
    return collect_picks(parts)
