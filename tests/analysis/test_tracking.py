"""Linking and MSD (trackpy) on simulated Brownian hard spheres with exact trajectories."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import voxpick
from voxpick.analysis import diffusion_coefficient, link, msd
from voxpick.metrics import link_accuracy
from voxpick.simulate import simulate_brownian

pytest.importorskip("trackpy")


@pytest.fixture(scope="module")
def dense():
    """Volume fraction 0.3, 30 frames of 56³, free diffusion 0.5 voxel²/frame."""
    return simulate_brownian(56, n_frames=30, radius=4, volfrac=0.3, diffusion=0.5, rng=2026)


@pytest.fixture(scope="module")
def tracks(dense):
    found = voxpick.batch(dense.frames, diameter=8, method="classical")
    return link(found, search_range=5)


def test_links_follow_the_true_particles_at_volume_fraction_0_3(dense, tracks):
    score = link_accuracy(dense.truth, tracks, max_distance=4)
    assert score.n_true_links > 5000
    assert score.coverage > 0.9  # the detector finds both ends of most true links
    assert score.accuracy >= 0.99  # and linking keeps >= 99% of those on one track
    assert score.precision >= 0.99  # and joins almost nothing it should not


def test_diffusion_coefficient_within_5_percent_of_the_truth(dense, tracks):
    """The MSD slope of the linked tracks against the same slope of the true trajectories.

    At volume fraction 0.3 collisions slow the particles down: the truth's own coefficient is
    the one to recover, far below the free one (0.5).
    """
    true_d = diffusion_coefficient(dense.truth)
    found_d = diffusion_coefficient(tracks)
    assert 0.15 < true_d < 0.4
    assert found_d == pytest.approx(true_d, rel=0.05)


def test_trajectories_table(dense, tracks):
    assert tracks["particle"].dtype == np.int64
    assert {"frame", "particle", "z", "y", "x", "score", "detector"} <= set(tracks.columns)
    assert not tracks.duplicated(["frame", "particle"]).any()
    keys = list(zip(tracks["frame"], tracks["particle"], strict=True))
    assert keys == sorted(keys)
    assert tracks.attrs["search_range"] == (5.0, 5.0, 5.0) and tracks.attrs["memory"] == 0
    assert tracks.attrs["n_frames"] == 30  # the batch's attrs are kept
    # particles that stay clear of the faces all along are followed all along
    pos = dense.truth[["z", "y", "x"]].to_numpy()
    clear = dense.truth.assign(clear=((pos >= 4) & (pos <= 51)).all(axis=1))
    per_particle = clear.groupby("particle")["clear"].agg(["size", "all"])
    true_whole = ((per_particle["size"] == 30) & per_particle["all"]).sum()
    whole = (tracks.groupby("particle").size() == 30).sum()
    assert true_whole > 50 and whole >= true_whole


def _two_walkers(n_frames=6, spacing=(0.0, 0.0, 0.6)):
    """Two particles 20 voxels apart, each moving by ``spacing`` per frame."""
    rows = []
    for t in range(n_frames):
        for p, start in enumerate(((10.0, 10.0, 10.0), (10.0, 30.0, 10.0))):
            pos = np.add(start, np.multiply(spacing, t))
            rows.append({"frame": t, "z": pos[0], "y": pos[1], "x": pos[2], "mine": p})
    return pd.DataFrame(rows)


def test_search_range_in_physical_units_and_per_axis():
    moving_z = _two_walkers(spacing=(3.0, 0.0, 0.0))  # 3 voxels per frame along z
    # voxels 0.5 um along z: a move of 1.5 um; a range of 1 um breaks it, 2 um keeps it
    broken = link(moving_z, search_range=1.0, voxel_size=(0.5, 0.1, 0.1))
    assert broken["particle"].nunique() == 12
    kept = link(moving_z, search_range=2.0, voxel_size=(0.5, 0.1, 0.1))
    assert kept["particle"].nunique() == 2
    assert kept.attrs["search_range"] == (4.0, 20.0, 20.0)
    # by default the voxel size the features were located with (attrs, as voxpick.batch sets)
    moving_z.attrs["voxel_size"] = (0.5, 0.1, 0.1)
    assert link(moving_z, search_range=2.0)["particle"].nunique() == 2
    assert link(moving_z, search_range=2.0, voxel_size=1)["particle"].nunique() == 12
    assert msd(kept, max_lag=1).iloc[0] == pytest.approx(1.5**2)  # um², from the attrs
    moving_z.attrs.clear()
    # a range per axis (z, y, x)
    assert link(moving_z, search_range=(3.5, 1, 1))["particle"].nunique() == 2
    assert link(moving_z, search_range=(2.5, 9, 9))["particle"].nunique() == 12


def test_memory_bridges_a_missed_detection():
    walkers = _two_walkers()
    gap = walkers.drop(index=walkers.index[(walkers["frame"] == 3) & (walkers["mine"] == 0)])
    assert link(gap, search_range=2)["particle"].nunique() == 3
    bridged = link(gap, search_range=2, memory=1)
    assert bridged["particle"].nunique() == 2
    assert (bridged.groupby("particle")["mine"].nunique() == 1).all()


def test_msd_of_a_straight_walk():
    walkers = _two_walkers(n_frames=8, spacing=(0.0, 0.0, 1.0))
    tracks = link(walkers, search_range=2)
    curve = msd(tracks, max_lag=4)
    assert curve.to_numpy() == pytest.approx([1.0, 4.0, 9.0, 16.0])
    # physical units: 0.2 um voxels along x, 0.5 s frames
    scaled = msd(tracks, voxel_size=(1, 1, 0.2), frame_interval=0.5, max_lag=4)
    assert scaled.index.to_numpy() == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert scaled.to_numpy() == pytest.approx(0.04 * np.array([1.0, 4.0, 9.0, 16.0]))
    per = msd(tracks, max_lag=4, per_particle=True)
    assert per.shape == (4, 2)


def test_linking_empty_features_keeps_the_columns():
    empty = pd.DataFrame({"frame": [], "z": [], "y": [], "x": []})
    got = link(empty, search_range=3)
    assert len(got) == 0 and "particle" in got.columns


def test_too_large_search_range_is_a_clear_error(dense):
    frames = dense.truth[dense.truth["frame"] < 3][["frame", "z", "y", "x"]]
    with pytest.raises(ValueError, match=r"search_range=20 is too large.*adaptive_stop"):
        link(frames, search_range=20)


@pytest.mark.parametrize(
    ("features", "kwargs", "error", "match"),
    [
        (pd.DataFrame({"z": [1.0], "y": [1.0], "x": [1.0]}), {}, ValueError, "frame.*batch"),
        ("table.csv", {}, TypeError, "not a table"),
        (
            pd.DataFrame({"frame": [0], "z": [np.nan], "y": [1.0], "x": [1.0]}),
            {}, ValueError, "NaN",
        ),
        (_two_walkers(), {"memory": -1}, ValueError, "memory=-1"),
        (_two_walkers(), {"search_range": -2}, ValueError, "search_range"),
        (_two_walkers(), {"search_range": (1, 2)}, ValueError, "3 values"),
    ],
)  # fmt: skip
def test_bad_link_input_is_a_clear_error(features, kwargs, error, match):
    with pytest.raises(error, match=match):
        link(features, **{"search_range": 3, **kwargs})


def test_msd_needs_tracks():
    with pytest.raises(ValueError, match="particle"):
        msd(_two_walkers())
    short = link(_two_walkers(n_frames=2), search_range=2)
    with pytest.raises(ValueError, match="too short"):
        diffusion_coefficient(short)


def test_missing_trackpy_names_the_extra(monkeypatch):
    for key in [k for k in sys.modules if k == "trackpy" or k.startswith("trackpy.")]:
        monkeypatch.setitem(sys.modules, key, None)
    with pytest.raises(ImportError, match=r"pip install 'voxpick\[track\]'"):
        link(_two_walkers(), search_range=2)
    with pytest.raises(ImportError, match=r"voxpick\[track\]"):
        msd(link.__globals__["pd"].DataFrame(columns=["frame", "particle", "z", "y", "x"]))
