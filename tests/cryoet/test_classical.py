"""The classical cryo-ET baseline: LoG blobs classed by size (voxpick.cryoet.pick_blobs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from voxpick.cryoet import choose_thresholds, pick_blobs, picks_to_angstrom
from voxpick.cryoet.picking import PICK_COLUMNS
from voxpick.simulate import ParticleClass, simulate_tomogram

RADII = {"small": 4.0, "large": 8.0}  # Angstrom at voxel size 1


def tomogram(seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Dark spheres of radius 4 and 8 voxels behind a missing wedge, in noise; exact truth."""
    classes = (
        ParticleClass("small", 4.0, count=14, density=2.0),
        ParticleClass("large", 8.0, count=8),
    )
    vol, truth = simulate_tomogram(
        (80,) * 3, classes=classes, voxel_size=1.0, defocus_um=None, snr=5.0, rng=seed
    )
    return vol, truth[["particle_type", "z", "y", "x"]]


def inside(truth: pd.DataFrame, shape: tuple[int, ...]) -> pd.DataFrame:
    """Particles half a radius clear of the faces (a face moves a cut particle's blob)."""
    r = 1.5 * truth["particle_type"].map(RADII).to_numpy()[:, None]
    pos = truth[["z", "y", "x"]].to_numpy()
    return truth[np.all((pos >= r) & (pos <= np.asarray(shape) - 1 - r), axis=1)]


@pytest.mark.parametrize("seed", [0, 3])
def test_finds_whole_particles_and_classes_them_by_size(seed: int) -> None:
    vol, truth = tomogram(seed)
    picks = pick_blobs(vol, classes=RADII, voxel_size=1.0, thresholds=0.0)
    assert list(picks.columns) == list(PICK_COLUMNS)
    assert picks["score"].is_monotonic_decreasing
    assert picks["score"].between(0.5, 1.0).all()  # snr >= 1 (MIN_BLOB_SNR)
    whole = inside(truth, vol.shape)
    assert len(whole) >= 6
    dist, j = cKDTree(picks[["z", "y", "x"]].to_numpy()).query(whole[["z", "y", "x"]])
    radius = whole["particle_type"].map(RADII).to_numpy()
    hit = dist <= 0.5 * radius  # the CZII match rule (touching particles may merge)
    assert hit.mean() >= 0.8
    same = picks["particle_type"].to_numpy()[j] == whole["particle_type"].to_numpy()
    assert same[hit].mean() >= 0.9
    # the particles are the strongest blobs: each is among the best 2 x (all particles)
    assert j[hit].max() < 2 * len(truth)


def test_bright_particles_need_invert_false() -> None:
    vol, truth = tomogram(0)
    whole = inside(truth, vol.shape)
    dark = pick_blobs(vol, classes=RADII, voxel_size=1.0, thresholds=0.0)
    bright = pick_blobs(-vol, classes=RADII, voxel_size=1.0, thresholds=0.0, invert=False)
    pd.testing.assert_frame_equal(dark, bright)
    wrong = pick_blobs(-vol, classes=RADII, voxel_size=1.0, thresholds=0.0)
    dist, _ = cKDTree(wrong[["z", "y", "x"]].to_numpy()).query(whole[["z", "y", "x"]])
    assert (dist <= 2.0).mean() < 0.5  # inverted contrast: the particles are not found


def test_thresholds_from_choose_thresholds_carry_to_another_tomogram() -> None:
    picks, truths = [], []
    for seed in (3, 4):
        vol, truth = tomogram(seed)
        found = pick_blobs(vol, classes=RADII, voxel_size=1.0, thresholds=0.0)
        picks.append(picks_to_angstrom(found, voxel_size=1.0).assign(experiment=str(seed)))
        truths.append(picks_to_angstrom(truth, voxel_size=1.0).assign(experiment=str(seed)))
    # blob scores are no probabilities: calibrate them without the pull towards identity
    chosen = choose_thresholds(
        pd.concat(picks), pd.concat(truths), radii_A=RADII, beta=4, min_truth=0, prior=0.0
    )
    thresholds = dict(zip(chosen["particle_type"], chosen["threshold"], strict=True))
    assert all(0.5 <= t < 1.0 for t in thresholds.values())
    vol, truth = tomogram(5)
    kept = pick_blobs(vol, classes=RADII, voxel_size=1.0, thresholds=thresholds)
    every = pick_blobs(vol, classes=RADII, voxel_size=1.0, thresholds=0.0)
    assert 0 < len(kept) < len(every)
    for name, t in thresholds.items():
        assert (kept.loc[kept["particle_type"] == name, "score"] >= t).all()


def test_anisotropic_voxels_scale_the_blobs() -> None:
    vol, _ = tomogram(0)
    # the same volume said to have 2 A voxels along z: radii halve along z, so the classes'
    # blobs no longer fit and fewer particles are matched with their own class
    iso = pick_blobs(vol, classes=RADII, voxel_size=1.0, thresholds=0.0)
    aniso = pick_blobs(vol, classes=RADII, voxel_size=(2.0, 1.0, 1.0), thresholds=0.0)
    assert not iso.equals(aniso)


def test_empty_and_bad_input() -> None:
    vol, _ = tomogram(0)
    none = pick_blobs(vol, classes=RADII, voxel_size=1.0, thresholds=1.0)
    assert none.empty and list(none.columns) == list(PICK_COLUMNS)
    flat = pick_blobs(np.zeros((32, 32, 32)), classes=RADII, voxel_size=1.0)
    assert flat.empty and list(flat.columns) == list(PICK_COLUMNS)
    with pytest.raises(ValueError, match="thresholds"):
        pick_blobs(vol, classes=RADII, voxel_size=1.0, thresholds=1.5)
    with pytest.raises(ValueError, match="lack classes"):
        pick_blobs(vol, classes=RADII, voxel_size=1.0, thresholds={"small": 0.5})
    with pytest.raises(ValueError, match="unknown classes"):
        pick_blobs(vol, classes=RADII, voxel_size=1.0, thresholds={"tiny": 0.5})
    with pytest.raises(ValueError, match="classes is empty"):
        pick_blobs(vol, classes={}, voxel_size=1.0)


def test_binning_keeps_positions_in_tomogram_voxels(monkeypatch) -> None:
    from voxpick.cryoet import classical

    vol, truth = tomogram(0)
    whole = inside(truth, vol.shape)
    # bin by 2 (the smallest radius, 4 voxels, keeps 2): picks still on the particles
    monkeypatch.setattr(classical, "MIN_RADIUS_VOXELS", 2.0)
    binned = pick_blobs(vol, classes=RADII, voxel_size=1.0, thresholds=0.0)
    dist, _ = cKDTree(binned[["z", "y", "x"]].to_numpy()).query(whole[["z", "y", "x"]])
    assert (dist <= 0.5 * whole["particle_type"].map(RADII).to_numpy()).mean() >= 0.7
    assert binned[["z", "y", "x"]].to_numpy().max() > 0.75 * max(vol.shape)
