import numpy as np
import pytest

from voxpick.analysis import coordination_numbers, overlap_report, steinhardt
from voxpick.simulate import pack_spheres


def fcc(n_cells: int, d: float) -> np.ndarray:
    a = d * np.sqrt(2.0)
    basis = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    grid = np.stack(np.meshgrid(*[np.arange(n_cells)] * 3, indexing="ij"), -1).reshape(-1, 3)
    return ((grid[:, None, :] + basis[None]) * a).reshape(-1, 3) + 2.0


def test_fcc_steinhardt_values_and_coordination():
    pos = fcc(5, 6.0)
    shape = (40, 40, 40)
    q = steinhardt(pos, shape=shape)
    inner = q.dropna()
    assert len(inner) > 20
    np.testing.assert_allclose(inner["q4"], 0.19094, atol=1e-3)
    np.testing.assert_allclose(inner["q6"], 0.57452, atol=1e-3)
    assert (q["neighbours"] == 12).all()
    # same with a cutoff between the first (d) and second (sqrt(2) d) shell
    qc = steinhardt(pos, cutoff=1.2 * 6.0, shape=shape).dropna()
    np.testing.assert_allclose(qc["q6"], 0.57452, atol=1e-3)
    z = coordination_numbers(pos, cutoff=1.2 * 6.0, shape=shape)
    assert np.nanmin(z) == np.nanmax(z) == 12
    assert np.isnan(z).any()  # the crystal's surface is cut by the faces


def test_random_gas_and_fluid_are_less_ordered_than_fcc():
    rng = np.random.default_rng(0)
    gas = steinhardt(rng.uniform(0, 40, size=(800, 3)), shape=(41, 41, 41))
    assert gas["q6"].mean() < 0.4 and gas["q4"].mean() > 0.19  # no cubic order, noisy q4
    fluid = pack_spheres(40, radius=3.0, volfrac=0.45, rng=1).positions
    q6 = steinhardt(fluid, shape=(41, 41, 41))["q6"].mean()
    assert 0.25 < q6 < 0.42


def test_anisotropic_voxels_are_scaled_before_angles():
    pos = fcc(4, 6.0)
    squeezed = pos / np.array([2.0, 1.0, 1.0])  # the same crystal seen with z voxels of 2
    q = steinhardt(squeezed, voxel_size=(2, 1, 1))
    np.testing.assert_allclose(q["q6"].max(), 0.57452, atol=1e-3)
    assert steinhardt(squeezed)["q6"].max() < 0.55


def test_coordination_default_cutoff_is_1_4_diameters():
    pos = np.array([[0, 0, 0], [0, 0, 1.3], [0, 0, 2.9], [5, 5, 5.0]])
    np.testing.assert_array_equal(coordination_numbers(pos, diameter=1.0), [1, 1, 0, 0])
    np.testing.assert_array_equal(coordination_numbers(pos, cutoff=1.7), [1, 2, 1, 0])
    with pytest.raises(ValueError, match="cutoff= or diameter="):
        coordination_numbers(pos)


def test_overlap_report_lists_close_pairs_sorted():
    pos = np.array([[0, 0, 0], [0, 0, 8.0], [0, 0, 2.0], [20, 20, 20], [20, 20, 23]])
    rep = overlap_report(pos, diameter=8.0)
    assert rep[["i", "j"]].to_numpy().tolist() == [[0, 2], [3, 4], [1, 2]]
    np.testing.assert_allclose(rep["distance"], [2, 3, 6])
    np.testing.assert_allclose(rep["overlap"], [0.75, 0.625, 0.25])
    aniso = overlap_report(pos, diameter=8.0, voxel_size=(1, 1, 3))
    assert aniso[["i", "j"]].to_numpy().tolist() == [[0, 2]]
    assert overlap_report(pos[:1], diameter=8.0).empty


def test_steinhardt_input_errors():
    with pytest.raises(ValueError, match="too few"):
        steinhardt(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="degrees"):
        steinhardt(fcc(2, 1.0), degrees=(-1,))
