import numpy as np
import pytest

from voxpick.analysis import close_pairs, detected_volume_fraction, nearest_neighbour_distances
from voxpick.simulate import simulate_volume


def test_detected_volume_fraction_of_truth_matches_simulation():
    sim = simulate_volume(64, radius=4.0, volfrac=0.4, rng=2)
    phi = detected_volume_fraction(sim.truth, diameter=8.0, shape=sim.volume.shape)
    assert phi == pytest.approx(0.4, rel=0.08)
    # losing half the particles halves it
    half = detected_volume_fraction(sim.truth.iloc[::2], diameter=8.0, shape=sim.volume.shape)
    assert half == pytest.approx(phi / 2, rel=0.1)


def test_nearest_neighbours_and_close_pairs():
    pos = np.array([[0, 0, 0], [0, 0, 3.0], [10, 10, 10], [10, 10, 10.5]])
    nn = nearest_neighbour_distances(pos)
    np.testing.assert_allclose(nn, [3, 3, 0.5, 0.5])
    np.testing.assert_allclose(nearest_neighbour_distances(pos, voxel_size=(1, 1, 2)), [6, 6, 1, 1])
    assert close_pairs(pos, min_distance=1.0).tolist() == [[2, 3]]
    assert nearest_neighbour_distances(pos[:1]).size == 0


def test_dense_truth_has_no_close_pairs():
    sim = simulate_volume(48, radius=4.0, volfrac=0.55, rng=1)
    assert len(close_pairs(sim.truth, min_distance=0.98 * 8.0)) == 0
    assert np.median(nearest_neighbour_distances(sim.truth)) < 1.15 * 8.0


def test_border_too_large_is_a_clear_error():
    with pytest.raises(ValueError, match="no inner volume"):
        detected_volume_fraction(np.zeros((1, 3)), diameter=8, shape=(8, 8, 8), border=5)
