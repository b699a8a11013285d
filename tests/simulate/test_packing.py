import numpy as np
import pytest
from scipy.spatial import cKDTree

from voxpick.simulate import pack_spheres


def _min_scaled_distance(p):
    """Smallest centre distance over contact distance, with periodic images."""
    tree = cKDTree(p.positions, boxsize=np.asarray(p.box))
    pairs = tree.query_pairs(2.0 * p.radii.max(), output_type="ndarray")
    d = p.positions[pairs[:, 0]] - p.positions[pairs[:, 1]]
    box = np.asarray(p.box)
    d -= box * np.rint(d / box)
    dist = np.linalg.norm(d, axis=1)
    if len(dist) == 0:
        return np.inf
    return float((dist / (p.radii[pairs[:, 0]] + p.radii[pairs[:, 1]])).min())


@pytest.mark.parametrize(
    ("volfrac", "radius", "poly"),
    [(0.05, 5.0, 0.0), (0.3, 4.0, 0.05), (0.55, 4.0, 0.0), (0.58, 4.0, 0.1)],
)
def test_packing_hits_volume_fraction_without_overlaps(volfrac, radius, poly):
    p = pack_spheres(60.0, radius=radius, volfrac=volfrac, polydispersity=poly, rng=3)
    assert p.volume_fraction == pytest.approx(volfrac, rel=1e-9)
    # no overlap beyond 1% of a diameter, checked independently of the numba code
    assert _min_scaled_distance(p) > 0.99
    assert p.max_overlap() < 0.01
    assert np.all((p.positions >= 0) & (p.positions < 60.0))
    if poly > 0:
        assert np.std(p.radii) / np.mean(p.radii) == pytest.approx(poly, rel=0.25)


def test_dense_fluid_is_not_a_crystal_and_is_reproducible():
    a = pack_spheres(40.0, radius=3.0, volfrac=0.5, rng=7)
    b = pack_spheres(40.0, radius=3.0, volfrac=0.5, rng=7)
    np.testing.assert_array_equal(a.positions, b.positions)
    c = pack_spheres(40.0, radius=3.0, volfrac=0.5, rng=8)
    assert not np.allclose(a.positions[:10], c.positions[:10])
    # a liquid has a broad nearest-neighbour distribution, with most neighbours near contact
    tree = cKDTree(a.positions, boxsize=40.0)
    d, _ = tree.query(a.positions, k=2)
    nn = d[:, 1] / 6.0
    assert 0.99 < nn.min() and np.median(nn) < 1.1


def test_gel_is_more_clustered_than_fluid():
    def coordination(p):
        tree = cKDTree(p.positions, boxsize=np.asarray(p.box))
        counts = tree.query_ball_point(p.positions, r=2.0 * 4.0 * 1.15, return_length=True)
        return np.mean(counts - 1)

    fluid = pack_spheres(60.0, radius=4.0, volfrac=0.15, rng=1)
    gel = pack_spheres(60.0, radius=4.0, volfrac=0.15, layout="gel", rng=1)
    assert coordination(gel) > 2 * coordination(fluid)
    assert gel.max_overlap() < 0.01


def test_fcc_is_a_lattice():
    p = pack_spheres(48.0, radius=4.0, volfrac=0.5, layout="fcc", rng=0)
    assert p.volume_fraction == pytest.approx(0.5)
    tree = cKDTree(p.positions, boxsize=48.0)
    d, _ = tree.query(p.positions, k=14)
    # 12 nearest neighbours near one lattice distance, then a gap to the 13th
    assert np.median(d[:, 13]) > 1.25 * np.median(d[:, 1:13])
    assert np.median(d[:, 1:13]) == pytest.approx(48.0 / 4 / np.sqrt(2), rel=0.05)
    assert p.max_overlap() < 0.01


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"radius": 3.0, "volfrac": 0.65}, "volfrac=0.65"),
        ({"radius": -1.0, "volfrac": 0.3}, "radius=-1.0"),
        ({"radius": 3.0, "volfrac": 0.3, "layout": "glass"}, "layout='glass'"),
        ({"radius": 3.0, "volfrac": 0.3, "polydispersity": 0.5}, "polydispersity=0.5"),
        ({"radius": 40.0, "volfrac": 0.3}, "too large"),
    ],
)
def test_bad_packing_input_is_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pack_spheres(30.0, **kwargs)
