"""simulate_brownian: hard-sphere Brownian time series with exact trajectories."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from scipy.spatial import cKDTree

from voxpick.simulate import simulate_brownian, simulate_volume
from voxpick.simulate.brownian import TRUTH_COLUMNS


def _steps(truth):
    """Displacements between consecutive frames of every true particle, (N, 3)."""
    t = truth.sort_values(["particle", "frame"])
    same = (t["particle"].diff() == 0) & (t["frame"].diff() == 1)
    return t[["z", "y", "x"]].diff()[same].to_numpy()


@pytest.fixture(scope="module")
def dense():
    return simulate_brownian(40, n_frames=12, radius=4, volfrac=0.3, diffusion=0.5, rng=7)


def test_frames_truth_and_metadata(dense):
    assert dense.frames.shape == (12, 40, 40, 40) and dense.frames.dtype == np.uint8
    truth = dense.truth
    assert tuple(truth.columns) == TRUTH_COLUMNS
    assert sorted(truth["frame"].unique()) == list(range(12))
    pos = truth[["z", "y", "x"]].to_numpy()
    assert (pos >= -0.5).all() and (pos < 39.5).all()
    assert not truth.duplicated(["frame", "particle"]).any()
    # one id, one particle: its radius and brightness never change along a trajectory
    assert (truth.groupby("particle")[["r", "brightness"]].nunique() == 1).all().all()
    assert dense.metadata["substeps"] >= 1 and 0.5 < dense.metadata["acceptance"] < 1


def test_same_seed_same_series(dense):
    again = simulate_brownian(40, n_frames=12, radius=4, volfrac=0.3, diffusion=0.5, rng=7)
    assert np.array_equal(again.frames, dense.frames)
    assert again.truth.equals(dense.truth)
    other = simulate_brownian(40, n_frames=2, radius=4, volfrac=0.3, rng=8)
    assert not np.array_equal(other.frames[0], dense.frames[0])


def test_spheres_never_overlap(dense):
    for _, frame in dense.truth.groupby("frame"):
        d, _ = cKDTree(frame[["z", "y", "x"]].to_numpy()).query(frame[["z", "y", "x"]], k=2)
        assert d[:, 1].min() >= 2 * 4 * (1 - 0.006)


def test_a_frame_is_imaged_like_a_simulated_volume():
    """Frame 0 and simulate_volume share the image model: same background and particle level."""
    series = simulate_brownian(40, n_frames=1, radius=4, volfrac=0.2, snr=20, cnr=10, rng=3)
    volume = simulate_volume(40, radius=4, volfrac=0.2, snr=20, cnr=10, rng=3).volume
    for q in (5, 50, 99):
        assert np.percentile(series.frames[0], q) == pytest.approx(np.percentile(volume, q), abs=6)


def test_free_particles_diffuse_with_the_given_coefficient():
    """Dilute: the variance of one frame's step is 2 D per axis (collisions are rare)."""
    sim = simulate_brownian(
        48, n_frames=60, radius=1.5, volfrac=0.01, diffusion=0.2, oversample=1, rng=11
    )
    assert sim.metadata["acceptance"] > 0.99
    steps = _steps(sim.truth)
    assert len(steps) > 3000
    per_axis = (steps**2).mean(axis=0) / 2
    assert per_axis == pytest.approx([0.2] * 3, rel=0.1)
    assert per_axis.mean() == pytest.approx(0.2, rel=0.05)
    assert np.abs(steps.mean(axis=0)).max() < 0.05  # no drift


def test_crowding_slows_diffusion(dense):
    """At volume fraction 0.3 collisions make a frame's step clearly smaller than free."""
    per_axis = (_steps(dense.truth) ** 2).mean() / 2
    assert 0.3 * 0.5 < per_axis < 0.8 * 0.5


def test_zero_diffusion_is_a_still_series():
    sim = simulate_brownian(24, n_frames=3, radius=3, volfrac=0.2, diffusion=0.0, rng=1)
    assert np.abs(_steps(sim.truth)).max() == 0.0
    assert not np.array_equal(sim.frames[0], sim.frames[1])  # fresh noise every frame


def test_imaging_defaults_follow_simulate_volume():
    mine = inspect.signature(simulate_brownian).parameters
    theirs = inspect.signature(simulate_volume).parameters
    shared = set(mine) & set(theirs) - {"shape", "radius", "volfrac"}
    assert {"snr", "cnr", "particle_size", "psf_aspect", "oversample"} <= shared
    for name in shared:
        assert mine[name].default == theirs[name].default, name


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_frames": 0}, "n_frames=0 must be a positive int"),
        ({"diffusion": -1.0}, r"diffusion=-1.0 is out of range.*voxel²/frame"),
        ({"substeps": 0}, "substeps=0 must be a positive int"),
        ({"radius": 30}, "smaller than the particle diameter"),
        ({"volfrac": 0.7}, "volfrac=0.7 is out of range"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_brownian(24, **{"n_frames": 2, **kwargs})
