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


def tomogram(seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Synthetic tomogram ``seed`` and its truth (``particle_type, z, y, x`` in voxels)."""
    vol, truth = simulate_tomogram(SIZE, voxel_size=VOXEL_A, rng=seed, **conditions(seed))
    return vol, truth[["particle_type", "z", "y", "x"]]


def classes() -> list[PickerClass]:
    """The six CZII classes with the competition's radii."""
    return [PickerClass(c.name, c.radius_A) for c in CZII_LIKE_CLASSES]


def run_picks(picker: Any, seeds: range, thresholds: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Picks and truth of the tomograms ``seeds``, in Angstrom with an ``experiment`` column."""
    found, truth = [], []
    for s in seeds:
        vol, t = tomogram(s)
        p = pick(vol, model=picker, thresholds=thresholds)
        found.append(picks_to_angstrom(p, voxel_size=VOXEL_A).assign(experiment=f"s{s}"))
        truth.append(picks_to_angstrom(t, voxel_size=VOXEL_A).assign(experiment=f"s{s}"))
    return pd.concat(found, ignore_index=True), pd.concat(truth, ignore_index=True)
