"""``method="auto"``: the U-Net for crowded volumes, the classical detector for sparse ones.

The shipped U-Net wins on crowded volumes (volume fraction 0.4 and up) and on particles the PSF
shrinks to a few voxels, where the classical detector loses most particles; the classical
detector is more precise on sparse, well-resolved samples, where the U-Net adds false peaks
next to true particles (``docs/benchmarks.md``, "Accuracy on simulated volumes"). The U-Net's own
detections tell the two cases apart: :func:`locate_auto` runs the U-Net, measures the volume
fraction its detections imply (:func:`voxpick.analysis.detected_volume_fraction`), and keeps
them when it is at least :data:`DENSE_VOLFRAC`; below, it runs the classical detector instead.
On crowded volumes it also adds the classical detections that no U-Net detection lies within
:data:`MISSED_DISTANCE` diameters of (:func:`add_missed`): particles the U-Net left out, such as
one merged with a neighbour. The cut and the rule were chosen on the calibration volumes of
``bench/auto_method.py`` and checked on its validation volumes; ``bench/accuracy.py`` reports them
on the held-out test volumes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from voxpick.analysis.structure import detected_volume_fraction
from voxpick.detect.classical import locate_classical, resolve_diameter

#: U-Net detected volume fraction at and above which :func:`locate_auto` keeps the U-Net.
DENSE_VOLFRAC = 0.35

#: Distance in diameters (per axis) beyond every U-Net detection at which a classical detection
#: on a crowded volume is added as a particle the U-Net missed.
MISSED_DISTANCE = 0.5

#: Keyword arguments :func:`locate_auto` accepts besides the common ones (the U-Net's machinery).
AUTO_KWARGS = ("model", "device", "tile")


def _check_kwargs(kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(kwargs) - set(AUTO_KWARGS))
    if unknown:
        raise TypeError(
            f"method='auto' does not take {unknown}: its two detectors score on different "
            f"scales, so per-detector settings are ambiguous (it takes {list(AUTO_KWARGS)}). "
            "Pass method='classical' or method='unet' to set them."
        )


def _check_volfrac(dense_volfrac: Any) -> float:
    try:
        value = float(dense_volfrac)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise ValueError(
            f"dense_volfrac={dense_volfrac!r} must be a volume fraction from 0 to 1 "
            f"(default {DENSE_VOLFRAC}); 0 always keeps the U-Net, 1 always uses the classical "
            "detector."
        )
    return value


def unet_volume_fraction(found: pd.DataFrame, *, shape: tuple[int, ...], diameter_px: Any) -> float:
    """Volume fraction implied by U-Net detections, counted half a diameter inside the faces.

    Parameters
    ----------
    found : pandas.DataFrame
        Detections (``z, y, x`` voxels).
    shape : tuple of 3 int
        Volume shape.
    diameter_px : float or tuple of 3 float
        Particle diameter in voxels (z, y, x).

    Returns
    -------
    float
        The detected volume fraction; for a volume less than two diameters across, the count
        over the whole volume (no inner volume is left after the borders).
    """
    shape3 = (int(shape[0]), int(shape[1]), int(shape[2]))
    diam = np.broadcast_to(np.asarray(diameter_px, dtype=float), (3,))
    if np.all(np.asarray(shape3) > 2 * diam):
        return detected_volume_fraction(found, diameter=tuple(diam), shape=shape3)
    return float(len(found) * np.pi / 6.0 * np.prod(diam) / np.prod(shape3))


def add_missed(
    unet: pd.DataFrame,
    classical: pd.DataFrame,
    *,
    diameter_px: Any,
    added_score: float,
) -> pd.DataFrame:
    """Add to the U-Net's detections the classical ones far from all of them.

    Parameters
    ----------
    unet : pandas.DataFrame
        U-Net detections (``z, y, x, score``).
    classical : pandas.DataFrame
        Classical detections (``z, y, x, score``).
    diameter_px : float or tuple of 3 float
        Particle diameter in voxels (z, y, x); distances are measured in diameters per axis.
    added_score : float
        ``score`` given to an added detection (the U-Net's threshold: they rank after every
        U-Net detection above it, in the order of their classical score).

    Returns
    -------
    pandas.DataFrame
        ``z, y, x, score, classical_score``: ``classical_score`` is NaN for the U-Net's
        detections and the classical signal-to-noise score for the added ones.
    """
    cols = ["z", "y", "x"]
    scale = np.broadcast_to(np.asarray(diameter_px, dtype=float), (3,))
    extra = classical
    if len(unet) and len(classical):
        dist, _ = cKDTree(unet[cols].to_numpy() / scale).query(classical[cols].to_numpy() / scale)
        extra = classical[dist >= MISSED_DISTANCE]
    extra = extra.sort_values("score", ascending=False, kind="stable")
    kept = unet[[*cols, "score"]].assign(classical_score=np.nan)
    added = extra[cols].assign(score=float(added_score), classical_score=extra["score"])
    out = pd.concat([kept, added], ignore_index=True).astype(float)
    order = np.argsort(-out["score"].to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)


def merge_crowded(
    unet: pd.DataFrame, classical: pd.DataFrame, *, diameter_px: Any, unet_options: dict[str, Any]
) -> pd.DataFrame:
    """Merge the detectors' results as ``method="auto"`` does on a crowded volume.

    Parameters
    ----------
    unet, classical : pandas.DataFrame
        The U-Net's and the classical detector's detections on the same volume.
    diameter_px : float or tuple of 3 float
        Particle diameter in voxels (z, y, x).
    unet_options : dict
        The U-Net's ``model`` and ``device`` (the shipped model by default), whose threshold
        is the score of the added detections.

    Returns
    -------
    pandas.DataFrame
        :func:`add_missed` of the two.
    """
    from voxpick.ml.infer import _resolve_model

    net = _resolve_model(unet_options.get("model"), unet_options.get("device"))
    return add_missed(unet, classical, diameter_px=diameter_px, added_score=net.threshold)


def choose_method(
    volume: Any,
    *,
    diameter: Any,
    voxel_size: Any = 1,
    invert: bool = False,
    dense_volfrac: float = DENSE_VOLFRAC,
    **kwargs: Any,
) -> tuple[str, float, pd.DataFrame]:
    """Run the U-Net and decide which detector suits ``volume``.

    Parameters
    ----------
    volume : array_like
        3D image, axes (z, y, x) (a sample of a larger volume is fine).
    diameter, voxel_size, invert
        As for :func:`voxpick.locate`.
    dense_volfrac : float
        Keep the U-Net when its detected volume fraction is at least this.
    **kwargs
        ``model``, ``device``, ``tile`` for :func:`voxpick.ml.locate_unet`.

    Returns
    -------
    tuple
        ``(method, volume_fraction, unet_detections)``: ``"unet"`` or ``"classical"``, the
        U-Net's detected volume fraction, and its detections on ``volume``.
    """
    _check_kwargs(kwargs)
    cut = _check_volfrac(dense_volfrac)
    from voxpick.ml import locate_unet

    found = locate_unet(volume, diameter=diameter, voxel_size=voxel_size, invert=invert, **kwargs)
    shape = tuple(np.shape(volume))
    phi = unet_volume_fraction(
        found, shape=shape, diameter_px=resolve_diameter(shape, diameter, voxel_size)
    )
    return ("unet" if phi >= cut else "classical"), phi, found


def locate_auto(
    volume: Any,
    *,
    diameter: Any,
    voxel_size: Any = 1,
    invert: bool = False,
    dense_volfrac: float = DENSE_VOLFRAC,
    **kwargs: Any,
) -> pd.DataFrame:
    """Find particles with the U-Net on crowded volumes and the classical detector otherwise.

    Parameters
    ----------
    volume : array_like
        3D image, axes (z, y, x).
    diameter : float or sequence of 3 float
        Particle diameter in the units of ``voxel_size`` (voxels by default).
    voxel_size : float or sequence of 3 float
        Voxel size per axis (z, y, x).
    invert : bool
        Particles are darker than the background.
    dense_volfrac : float
        Keep the U-Net when the volume fraction its detections imply is at least this
        (default :data:`DENSE_VOLFRAC`, chosen on calibration volumes).
    **kwargs
        ``model``, ``device``, ``tile`` for :func:`voxpick.ml.locate_unet`. Other settings
        (``threshold``, ``separation``, ...) mean different things to the two detectors: pass
        ``method="classical"`` or ``method="unet"`` to use them.

    Returns
    -------
    pandas.DataFrame
        ``z, y, x, score, ...``; ``attrs["method"]`` names the detector chosen and
        ``attrs["unet_volume_fraction"]`` gives the volume fraction the choice was made on.
        Classical: its table, ``score`` a filter signal-to-noise ratio. U-Net: its detections
        (``score`` a peak height 0..1) and the classical detections it missed
        (:func:`add_missed`; ``score`` the U-Net's threshold, their own in ``classical_score``).

    Raises
    ------
    TypeError
        A setting that only one of the detectors takes.
    ValueError
        ``dense_volfrac`` outside 0-1, or what either detector rejects.

    Examples
    --------
    >>> from voxpick.simulate import simulate_volume
    >>> sim = simulate_volume(48, radius=4, volfrac=0.1, snr=8, cnr=5, rng=0)
    >>> found = locate_auto(sim.volume, diameter=8)
    >>> found.attrs["method"]
    'classical'
    """
    method, phi, found = choose_method(
        volume, diameter=diameter, voxel_size=voxel_size, invert=invert,
        dense_volfrac=dense_volfrac, **kwargs,
    )  # fmt: skip
    classical = locate_classical(volume, diameter=diameter, voxel_size=voxel_size, invert=invert)
    if method == "classical":
        found = classical
    else:
        d_px = resolve_diameter(tuple(np.shape(volume)), diameter, voxel_size)
        found = merge_crowded(found, classical, diameter_px=d_px, unet_options=kwargs)
    found.attrs["method"] = method
    found.attrs["unet_volume_fraction"] = phi
    return found
