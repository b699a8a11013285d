import numpy as np
import pytest

from voxpick.analysis import first_minimum, pair_correlation
from voxpick.simulate import pack_spheres, simulate_volume


def _uniform(rng, n, shape, voxel_size=(1.0, 1.0, 1.0)):
    # uniform in the window -0.5 .. shape - 0.5 voxels
    return rng.uniform(-0.5, np.asarray(shape) - 0.5, size=(n, 3))


def test_ideal_gas_is_one_at_all_distances_with_edge_correction():
    rng = np.random.default_rng(0)
    shape = (40, 40, 40)
    gs = [pair_correlation(_uniform(rng, 1500, shape), shape=shape, r_max=20, bins=20)
          for _ in range(3)]  # fmt: skip
    g = np.mean([t["g"] for t in gs], axis=0)
    # up to r = L/2 the translation weights keep g at 1 (an uncorrected count drops to ~0.4)
    assert np.all(np.abs(g[2:] - 1.0) < 0.05), g
    for t in gs:  # short distances: Poisson counting noise
        short = t[t["r"] < 8]
        assert np.all(np.abs(short["g"] - 1.0) < 4 * short["error"])
    assert gs[0].attrs["estimator"] == "translation"
    assert gs[0].attrs["n"] == 1500


def test_anisotropic_voxels_use_physical_distances():
    rng = np.random.default_rng(1)
    shape = (20, 60, 60)
    vs = (3.0, 1.0, 1.0)  # physical box 60 x 60 x 60
    pts = _uniform(rng, 2000, shape)
    g = pair_correlation(pts, shape=shape, voxel_size=vs, r_max=25, bins=10)
    assert np.all(np.abs(g["g"][1:] - 1.0) < 0.06), g["g"]
    assert g.attrs["window"] == (60.0, 60.0, 60.0)
    # the same points treated as isotropic voxels in a 20-voxel-thick box: still 1 (r < 10)
    g_iso = pair_correlation(pts, shape=shape, r_max=9, bins=6)
    assert np.all(np.abs(g_iso["g"][1:] - 1.0) < 0.1)


def test_hard_spheres_peak_at_contact_and_empty_core():
    d = 8.0
    pack = pack_spheres(48, radius=d / 2, volfrac=0.45, rng=3)
    g = pair_correlation(
        pack.positions - 0.5, shape=(48, 48, 48), r_max=24, bins=np.arange(0, 24, 0.4)
    )
    peak = g["r"][g["g"].idxmax()]
    assert d <= peak <= 1.1 * d
    assert g["g"].max() > 3.0
    assert np.all(g["g"][g["r_hi"] <= 0.9 * d] == 0)
    # large r: back to 1 on average
    assert abs(g["g"][g["r"] > 2.5 * d].mean() - 1.0) < 0.1
    cut = first_minimum(g, diameter=d)
    assert 1.15 * d < cut < 1.6 * d


def test_hard_sphere_truth_of_a_simulated_volume():
    sim = simulate_volume(48, radius=4.0, volfrac=0.5, rng=4)
    g = pair_correlation(sim.truth, shape=sim.volume.shape, r_max=20, bins=50)
    assert 8.0 <= g["r"][g["g"].idxmax()] <= 8.8
    assert g["g"][g["r_hi"] <= 7.2].max() == 0


def test_bad_inputs_name_the_problem():
    pts = np.zeros((3, 3))
    with pytest.raises(ValueError, match="r_max=50 reaches the smallest window edge"):
        pair_correlation(pts, shape=(40, 40, 40), r_max=50)
    with pytest.raises(ValueError, match="bins=0"):
        pair_correlation(pts, shape=(40, 40, 40), bins=0)
    with pytest.raises(ValueError, match="increasing"):
        pair_correlation(pts, shape=(40, 40, 40), bins=[3, 1])
    with pytest.raises(ValueError, match="'r' and 'g'"):
        first_minimum(pair_correlation(pts, shape=(9, 9, 9))[["r"]], diameter=1)


def test_few_points_give_nan_not_an_error():
    g = pair_correlation(np.zeros((1, 3)), shape=(10, 10, 10), bins=4)
    assert len(g) == 4 and g["g"].isna().all() and (g["pairs"] == 0).all()
