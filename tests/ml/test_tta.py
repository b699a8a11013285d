"""Test-time scale augmentation: merging detections made at several assumed diameters."""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pandas as pd
import pytest

from voxpick.api import locate
from voxpick.detect import DETECTION_COLUMNS
from voxpick.metrics import evaluate
from voxpick.ml.tta import TTA_SCALES, check_scales, merge_scales
from voxpick.simulate import simulate_volume

locate_unet = partial(locate, method="unet")
locate_chunked = partial(locate, chunks=256)


def table(rows):
    """One scale's detections as (positions, heights)."""
    arr = np.asarray(rows, dtype=float).reshape(-1, 4)
    return arr[:, :3], arr[:, 3]


def test_merge_weights_positions_and_averages_scores_over_all_scales():
    a = table([[10.0, 10.0, 10.0, 0.6], [30.0, 30.0, 30.0, 0.9]])
    b = table([[11.0, 10.0, 10.0, 0.3]])  # the first particle, seen weaker and shifted in z
    c = table([[30.0, 30.0, 33.0, 0.3], [50.0, 50.0, 50.0, 0.12]])
    pos, score = merge_scales([a, b, c], diameter_px=(8.0, 8.0, 8.0), threshold=0.1)
    np.testing.assert_allclose(score, [1.2 / 3, 0.9 / 3])
    np.testing.assert_allclose(pos[0], [30.0, 30.0, 30.75])
    np.testing.assert_allclose(pos[1], [10.0 + 0.3 / 0.9, 10.0, 10.0])
    # 0.12 seen by one scale of three scores 0.04: below the threshold
    assert len(pos) == 2


def test_merge_distance_is_per_axis_in_diameters():
    a = table([[0.0, 0.0, 0.0, 0.5]])
    b = table([[7.0, 0.0, 0.0, 0.5]])  # 0.44 of a 16-voxel z diameter, 0.875 of an 8-voxel one
    assert len(merge_scales([a, b], diameter_px=(16.0, 8.0, 8.0), threshold=0.0)[0]) == 1
    assert len(merge_scales([a, b], diameter_px=(8.0, 8.0, 8.0), threshold=0.0)[0]) == 2


def test_merge_of_nothing_is_empty():
    pos, score = merge_scales([table([]), table([])], diameter_px=(8.0, 8.0, 8.0), threshold=0.1)
    assert pos.shape == (0, 3) and score.shape == (0,)


@pytest.mark.parametrize(
    ("scales", "error", "message"),
    [
        ("many", ValueError, "expected 'tta'"),
        ((), ValueError, "one or more"),
        ((0.9, 3.0), ValueError, "from 0.5 to 2"),
        (("a",), TypeError, "sequence of numbers"),
        (1.0, TypeError, "sequence of numbers"),
    ],
)
def test_bad_scales_are_clear_errors(scales, error, message):
    with pytest.raises(error, match=message):
        check_scales(scales)


@pytest.fixture(scope="module")
def sim():
    return simulate_volume(48, radius=4, volfrac=0.4, snr=8, cnr=5, rng=41)


def test_tta_merges_the_scales_and_still_finds_the_particles(sim):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = locate_unet(sim.volume, diameter=8)
        same = locate_unet(sim.volume, diameter=8, scales=(1.0,))
        tta = locate_unet(sim.volume, diameter=8, scales="tta")
        each = [locate_unet(sim.volume, diameter=8 * f, threshold=0.05) for f in TTA_SCALES]
    pd.testing.assert_frame_equal(single, same)
    assert list(tta.columns) == list(single.columns) == list(DETECTION_COLUMNS)
    assert (tta["heatmap"] >= 0.15).all() and (tta["heatmap"] <= 1.0).all()
    np.testing.assert_allclose(tta["score"], tta["heatmap"] / tta.attrs["threshold"])
    assert np.all(np.diff(tta["score"].to_numpy()) <= 0)
    # every merged particle comes from detections of the scales within half a diameter
    pool = np.concatenate([t[["z", "y", "x"]].to_numpy() for t in each])
    for p in tta[["z", "y", "x"]].to_numpy():
        assert np.linalg.norm(pool - p, axis=1).min() < 4.0
    ev = evaluate(sim.truth, tta, diameter=8, border=4, canvas_size=sim.volume.shape)
    assert ev.recall > 0.95 and ev.precision > 0.95


def test_block_by_block_runs_take_scales_too(sim):
    from scipy.spatial import cKDTree

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = locate_unet(sim.volume, diameter=8, scales="tta")
        tiled = locate_chunked(
            sim.volume, diameter=8, method="unet", scales="tta", chunks=24, progress=False
        )
    assert tiled.attrs["n_blocks"] == 8
    # per-block intensity normalisation, as for one scale: close to the whole-volume run
    assert abs(len(tiled) - len(whole)) <= 0.02 * len(whole)
    dist, _ = cKDTree(tiled[["z", "y", "x"]].to_numpy()).query(whole[["z", "y", "x"]].to_numpy())
    assert np.mean(dist < 0.5) > 0.97
