"""Clusters of touching same-class particles (``simulate_tomogram(clustering=...)``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from voxpick.simulate import simulate_tomogram
from voxpick.simulate.clusters import CONTACT_RANGE, cluster_particles
from voxpick.simulate.particles import place_particles


def _nearest_same_class(centres, radii, groups):
    """Centre distance to the nearest particle of the same group over the sum of radii."""
    d = squareform(pdist(centres)) / (radii[:, None] + radii[None, :])
    d[groups[:, None] != groups[None, :]] = np.inf
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def test_moved_particles_touch_one_of_their_class_and_overlap_no_other():
    shape = (64, 128, 128)
    radii = np.repeat([6.0, 6.5, 15.0], [40, 10, 10])
    groups = np.repeat([0, 1, 2], [40, 10, 10])
    start = place_particles(shape, radii, rng=0)
    rel0 = _nearest_same_class(start, radii, groups)
    pos = cluster_particles(start, radii, groups, shape=shape, fraction=0.6, rng=1)
    rel = _nearest_same_class(pos, radii, groups)
    moved = np.any(pos != start, axis=1)
    # random sequential addition leaves almost no particle in contact; clustering moves most of
    # the chosen ones into contact (0.7 to 1 times the sum of radii) with one of their class
    assert (rel0 <= CONTACT_RANGE[1]).sum() == 0
    assert moved.sum() >= 0.4 * len(radii)
    assert (rel[moved] >= CONTACT_RANGE[0] - 1e-9).all() and (rel[moved] <= 1.0 + 1e-9).all()
    # particles of different classes never overlap, same-class ones by at most the contact
    d = squareform(pdist(pos))
    need = radii[:, None] + radii[None, :]
    same = groups[:, None] == groups[None, :]
    off = ~np.eye(len(radii), dtype=bool)
    assert (d[off & ~same] >= need[off & ~same] - 1e-9).all()
    assert (d[off & same] >= CONTACT_RANGE[0] * need[off & same] - 1e-9).all()
    assert (pos >= 0).all() and (pos <= np.array(shape) - 1).all()


def test_no_clustering_keeps_the_tomogram_and_clustering_is_seeded():
    shape = (48, 96, 96)
    a, ta = simulate_tomogram(shape, counts={"apo-ferritin": 24}, rng=5)
    b, tb = simulate_tomogram(shape, counts={"apo-ferritin": 24}, clustering=0.0, rng=5)
    assert np.array_equal(a, b) and ta.equals(tb) and len(ta) > 10
    c, tc = simulate_tomogram(shape, counts={"apo-ferritin": 24}, clustering=0.7, rng=5)
    d, td = simulate_tomogram(shape, counts={"apo-ferritin": 24}, clustering=0.7, rng=5)
    assert np.array_equal(c, d) and tc.equals(td)
    assert not ta[["z", "y", "x"]].equals(tc[["z", "y", "x"]])
    assert tc.attrs["clustering"] == 0.7


def test_bad_clustering_arguments_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"clustering=1\.5 is out of range"):
        simulate_tomogram(32, clustering=1.5)
    layout = simulate_tomogram(32, counts=1, snr=None, rng=0)[1]
    with pytest.raises(ValueError, match="a layout is used as given"):
        simulate_tomogram(32, layout=layout, clustering=0.5)
    with pytest.raises(ValueError, match=r"contact=.*0 < lo <= hi"):
        cluster_particles(np.zeros((2, 3)), np.ones(2), np.zeros(2), shape=(8, 8, 8),
                          fraction=0.5, contact=(1.0, 0.5))  # fmt: skip
    with pytest.raises(ValueError, match="one row per particle"):
        cluster_particles(np.zeros((2, 3)), np.ones(3), np.zeros(2), shape=(8, 8, 8), fraction=1)
