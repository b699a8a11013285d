"""The DeepFinder simulated tomograms (../shared/data/cryoet-sim-deepfinder), read in place.

The nine DeepFinder classes have no names in the data: they are ``class_1`` .. ``class_9``, with
radii estimated from the training tomograms' label maps. The voxel size is taken as 10 Angstrom
(the match radius, half the class radius, is the same in voxels whatever the true size). Which
tomograms train, choose thresholds and score is in :mod:`bench.common.splits`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from bench.common.paths import DATA as SHARED_DATA
from voxpick.cryoet import ClassRefiner, PickerModel, load_picker, pick
from voxpick.io.czii_csv import picks_to_angstrom
from voxpick.io.deepfinder import read_deepfinder_objlist
from voxpick.io.volume import read_volume

DATA = SHARED_DATA / "cryoet-sim-deepfinder"
VOXEL_A = 10.0


def in_angstrom(picks: pd.DataFrame, *, voxel_size: float, experiment: str) -> pd.DataFrame:
    """``picks`` (voxels) in Angstrom, with an ``experiment`` column."""
    return picks_to_angstrom(picks, voxel_size=voxel_size).assign(experiment=experiment)


def load(i: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Tomogram ``i`` (z, y, x) and its picks (``particle_type`` class_k, voxels)."""
    vol = read_volume(DATA / f"tomo{i}_data.h5", key="dataset").astype(np.float32)
    picks = read_deepfinder_objlist(DATA / f"tomo{i}_objlist.xml")
    picks["particle_type"] = "class_" + picks["particle_type"]
    return vol, picks


def class_radii(indices: tuple[int, ...]) -> dict[str, float]:
    """Equivalent-sphere radius (voxels) of one particle per class, from the label maps."""
    voxels: dict[str, float] = {}
    counts: dict[str, int] = {}
    for i in indices:
        target = read_volume(DATA / f"tomo{i}_target.h5", key="dataset")
        _, picks = load(i)
        n_vox = np.bincount(target.ravel().astype(np.int64), minlength=10)
        for name, n in picks["particle_type"].value_counts().items():
            label = int(str(name).split("_")[1])
            voxels[str(name)] = voxels.get(str(name), 0.0) + float(n_vox[label])
            counts[str(name)] = counts.get(str(name), 0) + int(n)
    return {
        k: float((3 * voxels[k] / counts[k] / (4 * np.pi)) ** (1 / 3))
        for k in sorted(voxels, key=lambda s: int(s.split("_")[1]))
    }


def candidates(
    picker: PickerModel | Path,
    indices: tuple[int, ...],
    *,
    tta: bool = False,
    thresholds: float | dict[str, float] = 0.0,
    classifier: ClassRefiner | Literal[False] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Picks (default every candidate, threshold 0) and truth of tomograms ``indices``, in A.

    ``thresholds`` and ``classifier`` go to :func:`voxpick.cryoet.pick` (None: the picker's own
    second stage, if it has one).
    """
    if not isinstance(picker, PickerModel):
        picker = load_picker(picker, device="cpu")
    found, truth = [], []
    for i in indices:
        vol, picks = load(i)
        cand = pick(vol, model=picker, thresholds=thresholds, tta=tta, classifier=classifier)
        found.append(in_angstrom(cand, voxel_size=VOXEL_A, experiment=f"tomo{i}"))
        truth.append(in_angstrom(picks, voxel_size=VOXEL_A, experiment=f"tomo{i}"))
    return pd.concat(found, ignore_index=True), pd.concat(truth, ignore_index=True)
