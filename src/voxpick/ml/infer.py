"""Inference: scale-normalise, predict the heatmap tile by tile, extract and refine peaks.

Pipeline of :func:`unet_peaks` (run by :class:`voxpick.ml.detector.UNetDetector`):

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
import math
from pathlib import Path
from typing import Any

import numpy as np

from voxpick.detect.maxima import local_maxima, suppress_close
from voxpick.ml.scale import from_model_coords, model_zoom, normalize_intensity, to_model_scale
from voxpick.ml.store import HeatmapModel, load_model
from voxpick.nn.predict import DEFAULT_TILE, predict_channels

#: Default minimum separation of two detections, in diameters (the best mean F1 on the
#: validation volumes among 0.45-0.85; docs/ml.md).
DEFAULT_SEPARATION = 0.45

#: Score of a peak on the outermost layer of the model-scale heatmap, as a fraction of its
#: height: below the shipped threshold (0.15), so such peaks are only candidates for a lower one
#: (docs/ml.md, "Faces").
OUTER_LAYER_FACTOR = 0.1

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
        Normalised float32 volume at model scale (see :func:`unet_peaks`).
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


def _log_heat(logit: np.ndarray) -> np.ndarray:
    """``log(sigmoid(logit))``, computed stably."""
    return -np.logaddexp(0.0, -logit)


def heatmap_maxima(logits: np.ndarray, *, threshold: float, peak_radius: int = 2) -> np.ndarray:
    """Voxels of a heatmap (logits) that are the maximum of their box, at or above a height.

    Parameters
    ----------
    logits : numpy.ndarray
        Heatmap logits (z, y, x).
    threshold : float
        Minimum peak height, as a probability in (0, 1).
    peak_radius : int
        A peak is the maximum of the box of +-``peak_radius`` voxels around it (at least 1;
        of equal neighbours, the first in (z, y, x) order).

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` int64 voxel indices.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold={threshold!r} must be a probability strictly between 0 and 1.")
    t_logit = math.log(threshold / (1.0 - threshold))
    half = max(1, int(peak_radius))
    return local_maxima(logits, t_logit, (half, half, half))


def strongest_apart(
    idx: np.ndarray, values: np.ndarray, min_separation: float | tuple[float, float, float]
) -> np.ndarray:
    """Order peaks by decreasing height and drop those close to a higher one.

    Parameters
    ----------
    idx : numpy.ndarray
        ``(N, 3)`` integer peak positions.
    values : numpy.ndarray
        ``(N,)`` peak heights (any monotonic scale, e.g. logits).
    min_separation : float or tuple of 3 float
        Of two peaks closer than this (voxels), only the higher is kept; a (z, y, x) triple
        gives the semi-axes of an ellipsoid instead of a sphere's radius.

    Returns
    -------
    numpy.ndarray
        Indices into ``idx`` of the kept peaks, highest first (ties in (z, y, x) order).
    """
    order = np.lexsort((idx[:, 2], idx[:, 1], idx[:, 0], -values))  # stable, deterministic
    sep = np.broadcast_to(np.asarray(min_separation, dtype=float), (3,))
    if np.all(sep > 0) and len(order) > 1:
        pts = idx[order].astype(np.float64)
        if np.all(sep == sep[0]):  # a sphere: distances in voxels (exactly the scalar rule)
            keep = suppress_close(pts, values[order], (1.0, 1.0, 1.0), float(sep[0]))
        else:  # an ellipsoid: distances in units of its semi-axes
            keep = suppress_close(pts, values[order], (sep[0], sep[1], sep[2]), 1.0)
        order = order[keep]
    return order


def refine_peaks(logits: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Sub-voxel peak positions: per axis, the vertex of a parabola through the log-heatmap.

    Parameters
    ----------
    logits : numpy.ndarray
        Heatmap logits (z, y, x).
    idx : numpy.ndarray
        ``(N, 3)`` integer peak positions; a peak on a face is not moved along that axis.

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` float positions, each within half a voxel of its peak.
    """
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
    return points


def find_peaks(
    logits: np.ndarray,
    *,
    threshold: float,
    peak_radius: int = 2,
    min_separation: float | tuple[float, float, float] = 3.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of a heatmap (logits) with sub-voxel refinement.

    :func:`heatmap_maxima`, then :func:`strongest_apart`, then :func:`refine_peaks`.

    Parameters
    ----------
    logits : numpy.ndarray
        Heatmap logits (z, y, x).
    threshold : float
        Minimum peak height, as a probability in (0, 1).
    peak_radius : int
        A peak is the maximum of the box of +-``peak_radius`` voxels around it (at least 1;
        of equal neighbours, the first in (z, y, x) order).
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
    idx = heatmap_maxima(logits, threshold=threshold, peak_radius=peak_radius)
    if len(idx) == 0:
        return np.zeros((0, 3)), np.zeros(0)
    values = logits[idx[:, 0], idx[:, 1], idx[:, 2]].astype(np.float64)
    keep = strongest_apart(idx, values, min_separation)
    points = refine_peaks(logits, idx[keep])
    return points, 1.0 / (1.0 + np.exp(-values[keep]))


def on_outer_layer(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Which peaks sit on the outermost voxel layer of a heatmap of ``shape``.

    A particle cut by a volume face and centred beyond it leaves only the inner tail of its
    blob in the heatmap, which then peaks on the outermost layer. On calibration volumes most
    such peaks match no particle (docs/ml.md, "Faces"), so :func:`unet_peaks` scores them
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


def unet_peaks(
    volume: np.ndarray,
    net: HeatmapModel,
    *,
    diameter_px: tuple[float, float, float],
    threshold: float,
    invert: bool = False,
    separation_px: tuple[float, float, float] | None = None,
    tile: int = DEFAULT_TILE,
    margin: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of the heatmap of one volume at one scale, in input voxels (steps 1-6 above).

    Parameters
    ----------
    volume : numpy.ndarray
        3D volume (z, y, x), any real dtype.
    net : HeatmapModel
        The model.
    diameter_px : tuple of 3 float
        Particle diameter per axis, voxels; the volume is resampled so it becomes the model's.
    threshold : float
        Lowest score (peak height, 0..1) returned.
    invert : bool
        Particles are darker than the background.
    separation_px : tuple of 3 float, optional
        Minimum distance of two peaks, input voxels per axis; default
        :data:`DEFAULT_SEPARATION` model diameters.
    tile, margin : int
        Inference block core and context at model scale (:func:`predict_heatmap`).

    Returns
    -------
    positions : numpy.ndarray
        ``(N, 3)`` input voxels, sorted by decreasing score.
    scores : numpy.ndarray
        ``(N,)`` peak heights; a tenth of the height on the outermost layer of the model-scale
        heatmap, where a peak is mostly the tail of a particle centred beyond the face.
    """
    scaled, zoom = to_model_scale(volume, model_zoom(diameter_px, net.model_diameter))
    min_sep: float | tuple[float, float, float] = DEFAULT_SEPARATION * net.model_diameter
    if separation_px is not None:  # input voxels -> model voxels, per axis
        s = separation_px
        min_sep = (s[0] * zoom[0], s[1] * zoom[1], s[2] * zoom[2])
    image = normalize_intensity(scaled, invert=bool(invert))
    if image is None:  # constant volume: nothing to find
        return np.zeros((0, 3)), np.zeros(0)
    logits = predict_heatmap(image, net, tile=tile, margin=margin)
    points, heights = find_peaks(
        logits,
        threshold=float(threshold),
        peak_radius=max(1, round(0.25 * net.model_diameter)),
        min_separation=min_sep,
    )
    score = heights * np.where(on_outer_layer(points, logits.shape), OUTER_LAYER_FACTOR, 1.0)
    keep = score >= float(threshold)
    order = np.argsort(-score[keep], kind="stable")
    return from_model_coords(points[keep][order], zoom), score[keep][order]
