"""The heatmap U-Net as a detector of the contract (:mod:`voxpick.detect.contract`).

:class:`UNetDetector` loads the model once (:meth:`~UNetDetector.estimate`), finds the heatmap
peaks of each block (:func:`voxpick.ml.infer.unet_peaks`, optionally at several scales merged by
:func:`voxpick.ml.tta.merge_scales`) and measures them; its ``score`` is the peak height over
the threshold. The intensity normalisation is per block (a block holds thousands of
particles, so its robust range is that of the volume; chunked results stay within about 2% of
the whole-volume run, ``docs/scale.md``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpick.detect.contract import Box, Detector, Setup
from voxpick.detect.measure import measure_particles
from voxpick.detect.schema import detections_frame
from voxpick.io.source import VolumeSource
from voxpick.ml.infer import DEFAULT_TILE, _resolve_model, unet_peaks
from voxpick.ml.store import DEFAULT_MODEL, HeatmapModel
from voxpick.ml.tta import CANDIDATE_THRESHOLD, check_scales, merge_scales
from voxpick.validation import as_triple


def unet_context(diameter_px: tuple[float, float, float]) -> tuple[int, int, int]:
    """Halo of the U-Net: its own tile margin (two diameters) plus half a diameter and 4 voxels.

    Parameters
    ----------
    diameter_px : tuple of 3 float
        Particle diameter per axis, voxels.

    Returns
    -------
    tuple of 3 int
    """
    h = [math.ceil(2.5 * d + 4.0) for d in diameter_px]
    return (h[0], h[1], h[2])


class UNetDetector(Detector):
    """The shipped (or a trained) 3D U-Net predicting a particle-centre heatmap.

    Parameters
    ----------
    threshold : float, optional
        Minimum peak height (0..1) of a detection; default the model's, chosen on validation
        volumes.
    separation_px : tuple of 3 float, optional
        Minimum distance between two detections, voxels per axis; default 0.45 diameter.
    model : HeatmapModel, str or pathlib.Path, optional
        The shipped model (default), a model name, a path written by ``voxpick train``, or a
        model from :func:`voxpick.ml.load_model`.
    device : str, optional
        ``None`` uses CUDA when available, else the CPU.
    tile : int
        Core edge of one inference block at model scale; lower it to save memory.
    margin : int, optional
        Context around each inference block at model scale (default two model diameters).
    scales : sequence of float or "tta"
        Diameter multipliers to locate at and merge (test-time scale augmentation);
        ``(1.0,)`` is one pass, ``"tta"`` is ``(0.9, 1.0, 1.1)`` (3-5 times the time).
    """

    name = "unet"
    options = ("threshold", "separation_px", "model", "device", "tile", "margin", "scales")

    def __init__(
        self,
        *,
        threshold: float | None = None,
        separation_px: Any = None,
        model: HeatmapModel | str | Path | None = None,
        device: Any = None,
        tile: int = DEFAULT_TILE,
        margin: int | None = None,
        scales: Any = (1.0,),
    ) -> None:
        if threshold is not None and not (
            isinstance(threshold, int | float)
            and not isinstance(threshold, bool)
            and 0.0 < float(threshold) < 1.0
        ):
            raise ValueError(f"threshold={threshold!r} must be a number strictly between 0 and 1.")
        self.threshold = None if threshold is None else float(threshold)
        self.separation_px = None
        if separation_px is not None:
            self.separation_px = as_triple(separation_px, name="separation")
        self.model = model
        self.device = device
        self.tile = tile
        self.margin = margin
        self.scales = check_scales(scales)

    def estimate(self, source: VolumeSource, setup: Setup) -> dict[str, Any]:
        """Load the model (cached) and fix the threshold; see :class:`Detector`."""
        net = _resolve_model(self.model, self.device)
        name = DEFAULT_MODEL if self.model is None else self.model
        return {
            "threshold": net.threshold if self.threshold is None else self.threshold,
            "model": name if isinstance(name, str | Path) else "HeatmapModel",
            "scales": list(self.scales),
            "_net": net,
        }

    def context(
        self, setup: Setup, params: dict[str, Any]
    ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """Use the inference margin plus half a diameter; any block origin."""
        return unet_context(setup.diameter_px), (1, 1, 1)

    def find(
        self,
        block: np.ndarray,
        setup: Setup,
        params: dict[str, Any],
        *,
        box: Box,
        measure: bool = True,
    ) -> pd.DataFrame:
        """Heatmap peaks of the block at or above the threshold, measured.

        ``measure=False`` leaves ``mass``, ``signal`` and ``background`` NaN.
        """
        net = params["_net"]
        thr = float(params["threshold"])
        d = setup.diameter_px
        common: dict[str, Any] = {
            "invert": setup.invert,
            "separation_px": self.separation_px,
            "tile": self.tile,
            "margin": self.margin,
        }
        if self.scales == (1.0,):
            pos, heat = unet_peaks(block, net, diameter_px=d, threshold=thr, **common)
        else:
            per_scale = [
                unet_peaks(
                    block,
                    net,
                    diameter_px=(d[0] * f, d[1] * f, d[2] * f),
                    threshold=min(CANDIDATE_THRESHOLD, thr),
                    **common,
                )
                for f in self.scales
            ]
            pos, heat = merge_scales(per_scale, diameter_px=d, threshold=thr)
        measured: dict[str, np.ndarray] = {}
        if measure:
            vol = np.asarray(block, dtype=np.float32)
            measured = measure_particles(-vol if setup.invert else vol, pos, d, invert=setup.invert)
        return detections_frame(
            pos, score=heat / thr, detector=self.name, columns={"heatmap": heat, **measured}
        )

    def finish(
        self, candidates: pd.DataFrame, setup: Setup, params: dict[str, Any]
    ) -> pd.DataFrame:
        """Nothing is left to decide: the candidates are the detections."""
        out = candidates.copy()
        out.attrs = {"threshold": float(params["threshold"])}
        return out
