"""The real confocal volumes (no truth) and the structure figures measured on their picks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench.common.paths import DATA
from voxpick.analysis import detected_volume_fraction, neighbour_ratios, pair_correlation
from voxpick.io import read_tiff

SILICA = (17.0, 15.0, 15.0)
PMMA = (15.0, 11.0, 11.0)

#: name -> (path relative to DATA, raw shape or None, diameter (z, y, x) px, dark particles,
#: expected count or None). Diameters: the data README's suggestions; crops measured by eye.
VOLUMES: dict[str, tuple[str, tuple[int, int, int] | None, tuple[float, ...], bool, int | None]] = {
    "abraham": ("colloids-real/abraham.tiff", None, SILICA, False, None),
    "katherine": ("colloids-real/katherine.tiff", None, SILICA, False, None),
    "abraham_old": ("colloids-real/abraham_old.tiff", None, SILICA, False, None),
    "emily_old": ("colloids-real/emily_old.tiff", None, SILICA, False, None),
    "katherine_old": ("colloids-real/katherine_old.tiff", None, SILICA, False, None),
    "levke_v1": ("colloids-real/levke_v1.tiff", None, PMMA, False, None),
    "levke_v2": ("colloids-real/levke_v2.tiff", None, PMMA, False, None),
    "small_confocal (dark)": (
        "colloids-real-crops/small_confocal_image.tif", None, (12.0, 10.0, 10.0), True, 37,
    ),
    "gel": ("colloids-real-crops/gel.raw", (31, 64, 64), (11.0, 8.0, 8.0), False, None),
    "Z_elong": ("colloids-real-crops/Z_elong.raw", (55, 50, 50), (20.0, 8.0, 8.0), False, 4),
    "Z_preblur": ("colloids-real-crops/Z_preblur.raw", (30, 25, 25), (10.0, 9.0, 9.0), False, 3),
}  # fmt: skip


def load(rel: str, shape: tuple[int, int, int] | None) -> np.ndarray:
    """The volume at ``DATA / rel`` (raw uint8 of ``shape``, or a TIFF when ``shape`` is None)."""
    path = DATA / rel
    if shape is not None:
        return np.fromfile(path, dtype=np.uint8).reshape(shape)
    return read_tiff(path)


def structure(df: pd.DataFrame, diameter: Any, shape: tuple[int, ...]) -> dict[str, float]:
    """Detected volume fraction, nearest neighbours and the first g(r) peak, all in diameters.

    Distances are measured in diameters per axis (``neighbour_ratios``): a (17, 15, 15) voxel
    diameter makes 17 voxels along z one diameter.
    """
    pos = df[["z", "y", "x"]]
    nn = neighbour_ratios(pos, diameter=diameter)
    peak = float("nan")
    if len(df) >= 10:
        in_d = tuple(1.0 / d for d in np.broadcast_to(diameter, 3))  # voxel size in diameters
        edges = np.arange(0.3, 2.0, 0.05)
        g = pair_correlation(pos, shape=shape, voxel_size=in_d, bins=edges)
        peak = float(g["r"].to_numpy()[int(np.nanargmax(g["g"].to_numpy()))])
    return {
        "phi_detected": detected_volume_fraction(pos, diameter=diameter, shape=shape),
        "nn_median_d": float(np.median(nn)) if len(nn) else float("nan"),
        "nn_below_0.8d": float(np.mean(nn < 0.8)) if len(nn) else 0.0,
        "gr_peak_d": peak,
    }
