"""link_accuracy: counting frame-to-frame links against true trajectories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voxpick.metrics import link_accuracy


def _truth(n_particles=4, n_frames=5):
    rows = [
        {"frame": t, "particle": p, "z": 10.0 * p, "y": 5.0 + 0.3 * t, "x": 5.0}
        for t in range(n_frames)
        for p in range(n_particles)
    ]
    return pd.DataFrame(rows)


def test_the_truth_scores_perfectly():
    truth = _truth()
    score = link_accuracy(truth, truth.assign(particle=truth["particle"] + 100), max_distance=1)
    assert score.n_true_links == 4 * 4 == score.n_detected_links == score.n_correct
    assert score.accuracy == score.precision == score.coverage == 1.0
    assert "accuracy=1.0000: 16 of 16" in repr(score)


def test_a_swap_costs_one_link_each_way():
    truth = _truth()
    tracks = truth.copy()
    # particles 0 and 1 exchange track ids from frame 3 on: link 2->3 wrong for both
    late = tracks["frame"] >= 3
    tracks.loc[late, "particle"] = tracks.loc[late, "particle"].replace({0: 1, 1: 0})
    score = link_accuracy(truth, tracks, max_distance=1)
    assert score.n_detected_links == 16 and score.n_correct == 14
    assert score.n_track_links == 16 and score.n_track_correct == 14


def test_missed_and_false_detections_count_apart():
    truth = _truth()
    tracks = truth.drop(index=truth.index[(truth["frame"] == 2) & (truth["particle"] == 3)])
    far = pd.DataFrame({"frame": [1], "particle": [99], "z": [200.0], "y": [0.0], "x": [0.0]})
    tracks = pd.concat([tracks, far], ignore_index=True)
    score = link_accuracy(truth, tracks, max_distance=1)
    assert score.n_true_links == 16 and score.n_detected_links == 14  # 1->2 and 2->3 lost
    assert score.coverage == pytest.approx(14 / 16)
    assert score.accuracy == 1.0 and score.precision == 1.0


def test_voxel_size_scales_the_match_distance():
    truth = _truth(n_particles=1)
    shifted = truth.assign(z=truth["z"] + 2.0)  # 2 voxels along z
    assert link_accuracy(truth, shifted, max_distance=1.5).n_detected_links == 0
    score = link_accuracy(truth, shifted, max_distance=1.5, voxel_size=(0.5, 1, 1))
    assert score.n_detected_links == 4


def test_missing_columns_are_a_clear_error():
    with pytest.raises(ValueError, match=r"tracks must be a DataFrame.*particle"):
        link_accuracy(_truth(), _truth().drop(columns="particle"), max_distance=1)
    with pytest.raises(ValueError, match="truth must be"):
        link_accuracy(np.zeros((3, 3)), _truth(), max_distance=1)
