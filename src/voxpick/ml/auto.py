"""``method="auto"``: the U-Net for crowded volumes, the classical detector for sparse ones.

The shipped U-Net wins on crowded volumes (volume fraction 0.4 and up) and on particles the PSF
shrinks to a few voxels, where the classical detector loses most particles; the classical
detector is more precise on sparse, well-resolved samples, where the U-Net adds false peaks
next to true particles (``docs/benchmarks.md``, "Accuracy on simulated volumes"). The U-Net's own
detections tell the two cases apart: :class:`AutoDetector` runs the U-Net, measures the volume
fraction its detections imply (:func:`voxpick.detect.measure.detected_volume_fraction`), and keeps
them when it is at least :data:`DENSE_VOLFRAC`; below, it runs the classical detector instead.
On crowded volumes it also adds the classical detections that no U-Net detection lies within
:data:`MISSED_DISTANCE` diameters of (:func:`add_missed`): particles the U-Net left out, such as
one merged with a neighbour. The cut and the rule were chosen on calibration volumes
(``bench/benchmarks/auto_method.py``); ``docs/benchmarks.md`` has the figures.

The U-Net was trained on volumes full of particles: on a volume of noise alone it reports a
dense packing of weak peaks. When its detections are weak (median ``score`` under
:data:`NOISE_SCORE`) and neighbouring voxels are uncorrelated (white noise: no structure wider
than a voxel, so no particle), the volume is treated as sparse (:func:`looks_like_noise`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from voxpick.detect.classical import ClassicalDetector
from voxpick.detect.contract import Box, Detector, Setup
from voxpick.detect.measure import (
    detected_volume_fraction,
    measure_particles,
    neighbour_correlation,
)
from voxpick.detect.schema import conform
from voxpick.io.source import VolumeSource, central_box
from voxpick.ml.detector import UNetDetector
from voxpick.ml.infer import DEFAULT_TILE

#: U-Net detected volume fraction at and above which :class:`AutoDetector` keeps the U-Net.
DENSE_VOLFRAC = 0.35

#: Distance in diameters (per axis) beyond every U-Net detection at which a classical detection
#: on a crowded volume is added as a particle the U-Net missed.
MISSED_DISTANCE = 0.5

#: U-Net detections whose median ``score`` is under this may be peaks of noise.
NOISE_SCORE = 2.5

#: ... when the voxels' neighbour correlation is under this many standard errors of white noise.
NOISE_CORRELATION_SE = 4.0


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


def add_missed(unet: pd.DataFrame, classical: pd.DataFrame, *, diameter_px: Any) -> pd.DataFrame:
    """Add to the U-Net's detections the classical ones far from all of them.

    Parameters
    ----------
    unet : pandas.DataFrame
        U-Net detections (the detection schema).
    classical : pandas.DataFrame
        Classical detections (the detection schema).
    diameter_px : float or tuple of 3 float
        Particle diameter in voxels (z, y, x); distances are measured in diameters per axis.

    Returns
    -------
    pandas.DataFrame
        The U-Net's rows, then the classical rows farther than :data:`MISSED_DISTANCE`
        diameters from every one of them, with ``score`` 1 (the U-Net's threshold: they rank
        after every U-Net detection above it, in the order of their ``snr``); sorted by
        decreasing score.
    """
    cols = ["z", "y", "x"]
    scale = np.broadcast_to(np.asarray(diameter_px, dtype=float), (3,))
    extra = classical
    if len(unet) and len(classical):
        dist, _ = cKDTree(unet[cols].to_numpy() / scale).query(classical[cols].to_numpy() / scale)
        extra = classical[dist >= MISSED_DISTANCE]
    extra = extra.sort_values("snr", ascending=False, kind="stable").assign(score=1.0)
    out = conform(pd.concat([conform(unet), conform(extra)], ignore_index=True))
    order = np.argsort(-out["score"].to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)


def looks_like_noise(unet: pd.DataFrame, volume: np.ndarray) -> bool:
    """Whether U-Net detections on ``volume`` look like peaks of white noise, not particles.

    Parameters
    ----------
    unet : pandas.DataFrame
        The U-Net's detections on ``volume`` (``score`` 1 at its threshold).
    volume : numpy.ndarray
        The 3D image they were found in.

    Returns
    -------
    bool
        True when their median score is under :data:`NOISE_SCORE` and the neighbour
        correlation of the voxels (:func:`~voxpick.detect.measure.neighbour_correlation`) is
        under :data:`NOISE_CORRELATION_SE` standard errors of white noise.
    """
    if not len(unet) or float(np.median(unet["score"].to_numpy())) >= NOISE_SCORE:
        return False
    cut = NOISE_CORRELATION_SE / np.sqrt(max(volume.size, 1))
    return neighbour_correlation(volume) < cut


def auto_sample_edge(diameter_px: tuple[float, float, float]) -> int:
    """Edge of the central crop ``method="auto"`` decides on: 8 diameters, at least 128.

    Parameters
    ----------
    diameter_px : tuple of 3 float
        Particle diameter per axis, voxels.

    Returns
    -------
    int
    """
    return max(128, int(np.ceil(8 * max(diameter_px))))


class AutoDetector(Detector):
    """The U-Net on crowded volumes (plus the classical detections it missed), else classical.

    The choice is made once per volume (:meth:`estimate`), on the U-Net's detections in the
    central crop of :func:`auto_sample_edge` voxels (the whole volume when it is smaller).

    Parameters
    ----------
    model, device, tile
        The U-Net's (:class:`~voxpick.ml.detector.UNetDetector`).
    dense_volfrac : float
        Keep the U-Net when the volume fraction its detections imply is at least this
        (0 always keeps it, 1 always uses the classical detector).
    """

    name = "auto"
    options = ("model", "device", "tile", "dense_volfrac")

    def __init__(
        self,
        *,
        model: Any = None,
        device: Any = None,
        tile: int = DEFAULT_TILE,
        dense_volfrac: float = DENSE_VOLFRAC,
    ) -> None:
        self.dense_volfrac = _check_volfrac(dense_volfrac)
        self.unet = UNetDetector(model=model, device=device, tile=tile)
        self.classical = ClassicalDetector()

    def estimate(self, source: VolumeSource, setup: Setup) -> dict[str, Any]:
        """Run the U-Net on the central crop, decide, and estimate both detectors' parameters."""
        unet_params = self.unet.estimate(source, setup)
        box = central_box(source.shape, auto_sample_edge(setup.diameter_px))
        sample = source.read(box)
        shape = (sample.shape[0], sample.shape[1], sample.shape[2])
        on_sample = Setup(setup.diameter_px, setup.invert, shape)
        candidates = self.unet.find(sample, on_sample, unet_params, box=box, measure=False)
        found = self.unet.finish(candidates, on_sample, unet_params)
        phi = unet_volume_fraction(found, shape=shape, diameter_px=setup.diameter_px)
        classical_params = self.classical.estimate(source, setup)
        crowded = bool(phi >= self.dense_volfrac)
        noise = crowded and self.dense_volfrac > 0 and looks_like_noise(found, sample)
        crowded = crowded and not noise
        params: dict[str, Any] = {
            "crowded": crowded,
            "noise_like": noise,
            "unet_volume_fraction": phi,
            "auto_sample_shape": list(shape),
            "dense_volfrac": self.dense_volfrac,
            "classical": classical_params,
            "unet": unet_params,
            "_sample": (box, candidates),  # find() on the same box reuses them
        }
        return params

    def context(
        self, setup: Setup, params: dict[str, Any]
    ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """Use the classical detector's context, widened to the U-Net's on a crowded volume."""
        halo, align = self.classical.context(setup, params["classical"])
        if params["crowded"]:
            wide, _ = self.unet.context(setup, params["unet"])
            halo = (max(halo[0], wide[0]), max(halo[1], wide[1]), max(halo[2], wide[2]))
        return halo, align

    def find(
        self, block: np.ndarray, setup: Setup, params: dict[str, Any], *, box: Box
    ) -> pd.DataFrame:
        """Find the classical candidates, and on a crowded volume the U-Net's too; measure them.

        Both detectors' candidates are measured in one pass (one local-background map).
        """
        parts = [self.classical.find(block, setup, params["classical"], box=box, measure=False)]
        if params["crowded"]:
            sample_box, cached = params["_sample"]
            if sample_box == box:
                parts.append(cached)
            else:
                parts.append(self.unet.find(block, setup, params["unet"], box=box, measure=False))
        table = pd.concat(parts, ignore_index=True)
        vol = np.asarray(block, dtype=np.float32)
        measured = measure_particles(
            -vol if setup.invert else vol,
            table[["z", "y", "x"]].to_numpy(dtype=float),
            setup.diameter_px,
            invert=setup.invert,
        )
        for name, values in measured.items():
            table[name] = values
        return table

    def finish(
        self, candidates: pd.DataFrame, setup: Setup, params: dict[str, Any]
    ) -> pd.DataFrame:
        """Keep the classical detections, or the U-Net's plus the classical ones it missed."""
        by = candidates["detector"].to_numpy()
        classical = self.classical.finish(candidates[by == "classical"], setup, params["classical"])
        attrs = {
            "detector": "unet" if params["crowded"] else "classical",
            "unet_volume_fraction": params["unet_volume_fraction"],
            "auto_sample_shape": tuple(params["auto_sample_shape"]),
            "unet_noise_like": bool(params.get("noise_like", False)),
        }
        if not params["crowded"]:
            classical.attrs.update(attrs)
            return classical
        unet = self.unet.finish(candidates[by == "unet"], setup, params["unet"])
        out = add_missed(unet, classical, diameter_px=setup.diameter_px)
        out.attrs.update({f"classical_{k}": v for k, v in classical.attrs.items()})
        out.attrs.update(unet.attrs)
        out.attrs.update(attrs)
        return out
