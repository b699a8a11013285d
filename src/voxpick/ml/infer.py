"""Inference: scale-normalise, predict the heatmap tile by tile, extract and refine peaks.

Pipeline of :func:`locate_unet`:

1. Resample the volume so a particle is ``model_diameter`` voxels across on every axis
   (:mod:`voxpick.ml.scale`), negate it for dark particles (``invert=True``) and map its robust
   intensity range to 0..1, as in training.
2. Predict heatmap logits block by block (:func:`predict_heatmap`). The padded volume is cut into
   cores; each core is predicted from a window extending ``margin`` voxels (default two model
   diameters) beyond it on every side and only the core is kept. The network has no global
   operation (batch norm in eval mode is a fixed affine map), so the stitched heatmap equals a
   whole-volume prediction up to the influence of context beyond the margin, and peaks are then
   found once on the whole stitched heatmap: no particle is duplicated or lost at a tile border.
3. Peaks: local maxima of the logits in a box of +-``peak_radius`` voxels at or above the
   threshold, duplicates closer than ``min_separation`` model voxels removed (highest kept).
4. Sub-voxel refinement: per axis, the vertex of the parabola through the log-heatmap at the
   peak and its two neighbours (exact for a Gaussian blob, the training target).
5. Faces: a peak on the outermost voxel layer of the model-scale heatmap (a quarter radius
   deep) is mostly the cut-off tail of a particle centred beyond the face
   (:func:`on_outer_layer`); its score is :data:`OUTER_LAYER_FACTOR` times its height, so it
   ranks after every clear detection and is reported only at thresholds up to that factor.
   This replaces, for the U-Net, the classical detector's halving of scores there
   (:func:`voxpick.detect.peaks.face_factor`).
6. Positions are mapped back to input voxels; ``score`` is the peak height (0..1); detections
   whose score falls below the threshold are dropped.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import ndimage
from scipy.spatial import cKDTree

from voxpick.detect.schema import detections_frame
from voxpick.ml.scale import from_model_coords, model_zoom, normalize_intensity, to_model_scale
from voxpick.ml.store import HeatmapModel, load_model
from voxpick.ml.tta import CANDIDATE_THRESHOLD, check_scales, merge_scales
from voxpick.validation import check_volume, diameter_in_voxels, length_in_voxels

#: Default minimum separation of two detections, in diameters (the best mean F1 on the
#: validation volumes among 0.45-0.85; docs/ml.md).
DEFAULT_SEPARATION = 0.45

#: Score of a peak on the outermost layer of the model-scale heatmap, as a fraction of its
#: height: below the shipped threshold (0.15), so such peaks are only candidates for a lower one
#: (docs/ml.md, "Faces").
OUTER_LAYER_FACTOR = 0.1

#: Default core edge (model voxels) of one inference block.
DEFAULT_TILE = 128

#: Mirror padding (model voxels) added at the faces of the volume before prediction. Zero by
#: default: the network was trained on crops whose faces cut particles; mirroring a cut particle
#: makes it look whole and centred on the face, which costs precision (measured: 0.87 -> 0.92
#: at volume fraction 0.3, 96^3, r 4). Only the far ends are padded to the size multiple.
BORDER = 0


@functools.lru_cache(maxsize=4)
def _cached_model(name: str | None, device: str | None) -> HeatmapModel:
    return load_model(name, device=device)


def _resolve_model(model: Any, device: Any) -> HeatmapModel:
    if isinstance(model, HeatmapModel):
        return model
    if model is None or isinstance(model, str | Path):
        key = None if model is None else str(model)
        dev = None if device is None else str(device)
        return _cached_model(key, dev)
    raise TypeError(
        f"model={model!r} is not usable: expected None (the shipped model), a model name or "
        "path, or a HeatmapModel from voxpick.ml.load_model()."
    )


def _blocks(extent: int, tile: int, margin: int) -> list[tuple[int, int, int, int]]:
    """Split ``[0, extent)`` into cores with windows: ``(core_lo, core_hi, win_lo, win_hi)``."""
    if extent <= tile + 2 * margin:
        return [(0, extent, 0, extent)]
    mult = math.gcd(tile, margin, extent)
    n = math.ceil(extent / tile)
    core = math.ceil(extent / n / mult) * mult
    out = []
    for a in range(0, extent, core):
        b = min(extent, a + core)
        out.append((a, b, max(0, a - margin), min(extent, b + margin)))
    return out


def predict_heatmap(
    image: np.ndarray,
    model: HeatmapModel,
    *,
    tile: int = DEFAULT_TILE,
    margin: int | None = None,
    border: int = BORDER,
) -> np.ndarray:
    """Heatmap logits of a normalised volume at model scale, predicted block by block.

    Parameters
    ----------
    image : numpy.ndarray
        Normalised float32 volume at model scale (see :func:`locate_unet`).
    model : HeatmapModel
        Trained model.
    tile : int
        Core edge of one block (model voxels, rounded up to the network's size multiple).
        Axes no longer than ``tile + 2 * margin`` after padding are predicted in one block.
    margin : int, optional
        Context on every side of a core (model voxels); default two model diameters. Must be
        at least one diameter.
    border : int
        Mirror padding at the volume faces (model voxels); the far ends are always padded up
        to the network's size multiple.

    Returns
    -------
    numpy.ndarray
        float32 logits, same shape as ``image``.
    """
    if margin is None:
        margin = 2 * math.ceil(model.model_diameter)
    if isinstance(margin, int | np.integer) and margin < model.model_diameter:
        raise ValueError(
            f"margin={margin!r} is too small: expected an int >= one model diameter "
            f"({model.model_diameter:g} voxels) so that particles at tile borders see their "
            "whole neighbourhood."
        )
    out = predict_channels(
        image, model.net, device=model.device, size_multiple=model.spec.size_multiple,
        tile=tile, margin=margin, border=border,
    )  # fmt: skip
    return out[0]


def predict_channels(
    image: np.ndarray,
    net: torch.nn.Module,
    *,
    device: torch.device,
    size_multiple: int,
    tile: int = DEFAULT_TILE,
    margin: int,
    border: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """All output maps of a fully convolutional network over a volume, block by block.

    Parameters
    ----------
    image : numpy.ndarray
        Normalised float32 volume (z, y, x) at the network's scale.
    net : torch.nn.Module
        Network in eval mode, mapping ``(1, 1, Z, Y, X)`` to ``(1, C, Z, Y, X)``.
    device : torch.device
        Where ``net`` lives.
    size_multiple : int
        Every block edge given to ``net`` is a multiple of this.
    tile : int
        Core edge of one block (rounded up to ``size_multiple``).
    margin : int
        Context on every side of a core (voxels, rounded up to ``size_multiple``).
    border : int
        Mirror padding at the volume faces; the far ends are always padded to the multiple.
    progress : callable, optional
        Called as ``progress(done, total)`` after each block.

    Returns
    -------
    numpy.ndarray
        float32 ``(C, Z, Y, X)``: the stitched core of every block.
    """
    mult = int(size_multiple)
    if not isinstance(tile, int | np.integer) or tile < 1:
        raise ValueError(f"tile={tile!r} must be a positive int (model voxels), e.g. 128.")
    if not isinstance(margin, int | np.integer) or margin < 1:
        raise ValueError(f"margin={margin!r} must be a positive int (model voxels).")
    tile = int(math.ceil(tile / mult) * mult)
    margin = int(math.ceil(margin / mult) * mult)
    shape = image.shape
    extent = [math.ceil((n + 2 * border) / mult) * mult for n in shape]
    pads = [(border, e - n - border) for n, e in zip(shape, extent, strict=True)]
    mode = "reflect" if min(shape) >= 2 else "edge"
    padded = np.pad(image.astype(np.float32, copy=False), pads, mode=mode)  # type: ignore[call-overload]
    per_axis = [_blocks(e, tile, margin) for e in extent]
    blocks = list(itertools.product(*per_axis))
    logits: np.ndarray | None = None
    with torch.inference_mode():
        for done, block in enumerate(blocks, start=1):
            win = tuple(slice(b[2], b[3]) for b in block)
            x = torch.from_numpy(np.ascontiguousarray(padded[win]))[None, None].to(device)
            y = net(x)[0].float().cpu().numpy()
            if logits is None:
                logits = np.empty((y.shape[0], *padded.shape), dtype=np.float32)
            core = tuple(slice(b[0] - b[2], b[1] - b[2]) for b in block)
            dst = tuple(slice(b[0], b[1]) for b in block)
            logits[(slice(None), *dst)] = y[(slice(None), *core)]
            if progress is not None:
                progress(done, len(blocks))
    assert logits is not None  # at least one block always exists
    crop = tuple(slice(p[0], p[0] + n) for p, n in zip(pads, shape, strict=True))
    return logits[(slice(None), *crop)]


def _log_heat(logit: np.ndarray) -> np.ndarray:
    """``log(sigmoid(logit))``, computed stably."""
    return -np.logaddexp(0.0, -logit)


def find_peaks(
    logits: np.ndarray,
    *,
    threshold: float,
    peak_radius: int = 2,
    min_separation: float | tuple[float, float, float] = 3.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of a heatmap (logits) with sub-voxel refinement.

    Parameters
    ----------
    logits : numpy.ndarray
        Heatmap logits (z, y, x).
    threshold : float
        Minimum peak height, as a probability in (0, 1).
    peak_radius : int
        A peak is the maximum of the box of +-``peak_radius`` voxels around it.
    min_separation : float or tuple of 3 float
        Of two peaks closer than this (voxels), only the higher is kept; a (z, y, x) triple
        gives the semi-axes of an ellipsoid instead of a sphere's radius.

    Returns
    -------
    points : numpy.ndarray
        ``(N, 3)`` refined positions in voxels of ``logits``, sorted by decreasing height.
    heights : numpy.ndarray
        ``(N,)`` peak heights (probabilities).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold={threshold!r} must be a probability strictly between 0 and 1.")
    t_logit = math.log(threshold / (1.0 - threshold))
    size = 2 * int(peak_radius) + 1
    local_max = ndimage.maximum_filter(logits, size=size, mode="nearest")
    idx = np.argwhere((logits == local_max) & (logits >= t_logit))
    if len(idx) == 0:
        return np.zeros((0, 3)), np.zeros(0)
    values = logits[idx[:, 0], idx[:, 1], idx[:, 2]].astype(np.float64)
    order = np.lexsort((idx[:, 2], idx[:, 1], idx[:, 0], -values))  # stable, deterministic
    idx, values = idx[order], values[order]
    sep = np.broadcast_to(np.asarray(min_separation, dtype=float), (3,))
    if np.all(sep > 0) and len(idx) > 1:
        keep = np.ones(len(idx), dtype=bool)
        if np.all(sep == sep[0]):  # a sphere: query in voxels (exactly the scalar rule)
            pairs = cKDTree(idx).query_pairs(float(sep[0]))
        else:  # an ellipsoid: query in units of its semi-axes
            pairs = cKDTree(idx / sep).query_pairs(1.0)
        for i, j in sorted(pairs):
            if keep[i] and keep[j]:
                keep[j] = False  # j > i has the lower (or equal, later) peak
        idx, values = idx[keep], values[keep]
    points = idx.astype(np.float64)
    shape = np.asarray(logits.shape)
    for axis in range(3):
        inner = (idx[:, axis] > 0) & (idx[:, axis] < shape[axis] - 1)
        sel = idx[inner]
        lo, hi = sel.copy(), sel.copy()
        lo[:, axis] -= 1
        hi[:, axis] += 1
        f0 = _log_heat(logits[sel[:, 0], sel[:, 1], sel[:, 2]].astype(np.float64))
        fm = _log_heat(logits[lo[:, 0], lo[:, 1], lo[:, 2]].astype(np.float64))
        fp = _log_heat(logits[hi[:, 0], hi[:, 1], hi[:, 2]].astype(np.float64))
        curv = fm - 2.0 * f0 + fp
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = np.where(curv < 0, 0.5 * (fm - fp) / curv, 0.0)
        points[inner, axis] += np.clip(delta, -0.5, 0.5)
    heights = 1.0 / (1.0 + np.exp(-values))
    return points, heights


def on_outer_layer(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Which peaks sit on the outermost voxel layer of a heatmap of ``shape``.

    A particle cut by a volume face and centred beyond it leaves only the inner tail of its
    blob in the heatmap, which then peaks on the outermost layer. On calibration volumes most
    such peaks match no particle (docs/ml.md, "Faces"), so :func:`locate_unet` scores them
    :data:`OUTER_LAYER_FACTOR` times their height.
    Axes of fewer than 3 voxels have no inner layer and are not tested.

    Parameters
    ----------
    points : numpy.ndarray
        ``(N, 3)`` peak positions from :func:`find_peaks`. A peak on a face is not refined
        along that axis, so its coordinate there is exactly ``0`` or ``n - 1``; refinement
        moves any other peak by at most half a voxel, never onto either value.
    shape : tuple of int
        Shape of the heatmap.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` booleans.
    """
    last = np.asarray(shape[:3], dtype=float) - 1.0
    tested = last >= 2.0
    outer = (points <= 0.0) | (points >= last)
    return np.any(outer & tested, axis=1)


def locate_unet(
    volume: Any,
    *,
    diameter: Any,
    voxel_size: Any = 1,
    threshold: float | None = None,
    invert: bool = False,
    model: HeatmapModel | str | Path | None = None,
    tile: int = DEFAULT_TILE,
    margin: int | None = None,
    device: str | torch.device | None = None,
    separation: Any = None,
    scales: Any = (1.0,),
) -> pd.DataFrame:
    """Find every particle in a 3D volume with the heatmap U-Net.

    Parameters
    ----------
    volume : array_like
        3D image, axes (z, y, x), any real dtype.
    diameter : float or sequence of 3 float
        Particle diameter in the units of ``voxel_size`` (voxels by default); a (z, y, x)
        triple when particles span different voxel counts per axis (anisotropic voxels). The
        volume is resampled so this diameter becomes the model's (8 voxels): the shipped model
        was trained for 6-24 voxels and serves about 6-30.
    voxel_size : float or sequence of 3 float
        Voxel size per axis (z, y, x); the diameter in voxels is ``diameter / voxel_size``.
    threshold : float, optional
        Minimum peak height (0..1) of a detection; default: the model's, chosen on validation
        volumes. Lower finds more particles at lower precision; ``score`` lets you cut later.
    invert : bool
        Particles are darker than the background.
    model : HeatmapModel, str or pathlib.Path, optional
        The shipped model (default), a model name, a path written by ``voxpick train``, or a
        model from :func:`voxpick.ml.load_model`.
    tile : int
        Core edge of one inference block at model scale; lower it to save memory.
    margin : int, optional
        Context around each block at model scale (default two model diameters).
    device : str or torch.device, optional
        ``None`` uses CUDA when available, else the CPU (ignored for a loaded ``model``).
    separation : float or sequence of 3 float, optional
        Minimum distance between two detections, same units as ``diameter`` (the lower peak of
        a closer pair is dropped). Default 0.45 diameter (0.45 of the model's diameter at model
        scale, which the resampling's rounding may make differ from ``0.45 * diameter`` by
        about 1%), the best mean F1 on validation volumes. Raise it towards 0.8 diameter when
        no two particles can be closer (hard spheres): fewer impossible neighbours, at some
        cost in F1 (``docs/ml.md``). It applies to the peaks before sub-voxel refinement,
        which moves each by at most 1/16 diameter per axis.
    scales : sequence of float or "tta"
        Diameter multipliers to locate at, merged by :func:`voxpick.ml.tta.merge_scales`
        (test-time scale augmentation). Default ``(1.0,)``: one pass. ``"tta"`` is
        ``(0.9, 1.0, 1.1)``: 3-5 times the time, and on the validation volumes mean F1
        0.702 against 0.691 (``docs/ml.md``, "Scale augmentation"); ``score`` is then the mean
        peak height over the scales, and ``threshold`` applies to it.

    Returns
    -------
    pandas.DataFrame
        One row per particle: ``z, y, x`` (input voxels) and ``score`` (peak height, 0..1;
        a tenth of it on the outermost layer of the model-scale heatmap, where a peak is
        mostly the tail of a particle centred beyond the face), sorted by decreasing score; the
        same columns with zero rows when nothing is found.

    Examples
    --------
    >>> from voxpick.simulate import simulate_volume
    >>> sim = simulate_volume(48, radius=4, volfrac=0.4, snr=8, cnr=5, rng=0)
    >>> found = locate_unet(sim.volume, diameter=8)
    >>> list(found.columns)
    ['z', 'y', 'x', 'score']
    """
    vol = check_volume(volume)
    d_px = diameter_in_voxels(diameter, voxel_size)
    if not isinstance(invert, bool | np.bool_):
        raise TypeError(f"invert={invert!r} must be True or False.")
    net = _resolve_model(model, device)
    thr = net.threshold if threshold is None else threshold
    if not (isinstance(thr, int | float) and 0.0 < float(thr) < 1.0):
        raise ValueError(f"threshold={threshold!r} must be a number strictly between 0 and 1.")
    sep_px = None
    if separation is not None:
        sep_px = length_in_voxels(separation, voxel_size, name="separation")
    factors = check_scales(scales)
    if factors != (1.0,):
        per_scale = [
            locate_unet(
                vol,
                diameter=(d_px[0] * f, d_px[1] * f, d_px[2] * f),
                threshold=min(CANDIDATE_THRESHOLD, float(thr)),
                invert=invert,
                model=net,
                tile=tile,
                margin=margin,
                separation=sep_px,
            )
            for f in factors
        ]
        return merge_scales(per_scale, diameter_px=d_px, threshold=float(thr))
    scaled, zoom = to_model_scale(vol, model_zoom(d_px, net.model_diameter))
    min_sep: float | tuple[float, float, float] = DEFAULT_SEPARATION * net.model_diameter
    if sep_px is not None:  # input voxels -> model voxels, per axis
        min_sep = (sep_px[0] * zoom[0], sep_px[1] * zoom[1], sep_px[2] * zoom[2])
    image = normalize_intensity(scaled, invert=bool(invert))
    if image is None:  # constant volume: nothing to find
        return detections_frame()
    logits = predict_heatmap(image, net, tile=tile, margin=margin)
    points, heights = find_peaks(
        logits,
        threshold=float(thr),
        peak_radius=max(1, round(0.25 * net.model_diameter)),
        min_separation=min_sep,
    )
    score = heights * np.where(on_outer_layer(points, logits.shape), OUTER_LAYER_FACTOR, 1.0)
    keep = score >= float(thr)
    order = np.argsort(-score[keep], kind="stable")
    return detections_frame(from_model_coords(points[keep][order], zoom), score[keep][order])
