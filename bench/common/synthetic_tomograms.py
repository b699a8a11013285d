"""Synthetic CZII-like tomograms: the shipped picker's imaging conditions, classes and picks.

Used by the picker's recipe (``bench/recipes/train_picker_default.py``) and by the benchmarks
that pick fresh tomograms under the same conditions; which seeds are which set is in
:mod:`bench.common.splits`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from voxpick.cryoet import PickerClass, pick
from voxpick.io.czii_csv import picks_to_angstrom
from voxpick.simulate import CZII_LIKE_CLASSES, simulate_tomogram

#: The CZII voxel size (Angstrom), at which the shipped picker works.
VOXEL_A = 10.012
SIZE = 128
#: Range of ``clustering`` (:func:`voxpick.simulate.simulate_tomogram`) of clustered tomograms.
CLUSTERING_RANGE = (0.0, 0.8)
#: Second seed word of the stream that draws a clustered tomogram's ``clustering`` (a stream
#: apart from :func:`conditions`, so the other conditions of a seed stay the same).
CLUSTERING_STREAM = 24


def conditions(seed: int) -> dict[str, Any]:
    """Imaging conditions of synthetic tomogram ``seed`` (seeded, independent of the index)."""
    gen = np.random.default_rng(seed)
    return {
        "density_scale": float(gen.uniform(2.0, 8.0)),
        "snr": float(gen.uniform(0.25, 1.0)),
        "defocus_um": float(gen.uniform(2.0, 5.0)),
        "max_tilt": float(gen.uniform(45.0, 65.0)),
        "phase_flip": bool(gen.random() < 0.5),
    }


def clustering(seed: int) -> float:
    """``clustering`` of clustered tomogram ``seed``: uniform in :data:`CLUSTERING_RANGE`."""
    gen = np.random.default_rng([seed, CLUSTERING_STREAM])
    return float(gen.uniform(*CLUSTERING_RANGE))


def tomogram(seed: int, *, clustered: bool = False) -> tuple[np.ndarray, pd.DataFrame]:
    """Synthetic tomogram ``seed`` and its truth (``particle_type, z, y, x`` in voxels).

    ``clustered`` also moves a fraction :func:`clustering` of the particles into contact with
    one of their class (packed apo-ferritin, polysomes), as in real CZII layouts; the other
    conditions are those of the random layout of the same seed.
    """
    cond = conditions(seed)
    if clustered:
        cond["clustering"] = clustering(seed)
    vol, truth = simulate_tomogram(SIZE, voxel_size=VOXEL_A, rng=seed, **cond)
    return vol, truth[["particle_type", "z", "y", "x"]]


def classes() -> list[PickerClass]:
    """The six CZII classes with the competition's radii."""
    return [PickerClass(c.name, c.radius_A) for c in CZII_LIKE_CLASSES]


def run_picks(
    picker: Any, seeds: range, thresholds: Any, *, clustered: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Picks and truth of the tomograms ``seeds``, in Angstrom with an ``experiment`` column."""
    found, truth = [], []
    for s in seeds:
        vol, t = tomogram(s, clustered=clustered)
        p = pick(vol, model=picker, thresholds=thresholds)
        found.append(picks_to_angstrom(p, voxel_size=VOXEL_A).assign(experiment=f"s{s}"))
        truth.append(picks_to_angstrom(t, voxel_size=VOXEL_A).assign(experiment=f"s{s}"))
    return pd.concat(found, ignore_index=True), pd.concat(truth, ignore_index=True)
