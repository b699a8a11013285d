from __future__ import annotations

import numpy as np
import pytest

from voxpick.detect.classical import locate_classical
from voxpick.simulate import simulate_volume
from voxpick.tiling.params import classical_context, estimate_classical, finish_classical
from voxpick.tiling.source import open_volume


@pytest.fixture(scope="module")
def sim():
    return simulate_volume((45, 70, 66), radius=3.5, volfrac=0.4, psf_aspect=3.0, rng=5)


@pytest.mark.parametrize("invert", [False, True])
def test_global_noise_and_z_blur_equal_the_whole_volume_estimates(sim, invert):
    vol = (255 - sim.volume) if invert else sim.volume
    whole = locate_classical(vol, diameter=(9, 7, 7), invert=invert)
    kw, g = estimate_classical(
        open_volume(vol),
        (9.0, 7.0, 7.0),
        diameter=(9, 7, 7),
        voxel_size=1,
        invert=invert,
        kwargs={},
    )
    assert g["noise"] == whole.attrs["noise"]
    assert g["z_blur"] == whole.attrs["z_blur_px"] > 0
    assert g["threshold"] is None and kw["threshold"] == 2.5 and kw["min_relative"] == 0.0
    # the candidates at the floor, cut globally, give the whole-volume result
    cand = locate_classical(vol, diameter=(9, 7, 7), invert=invert, **kw)
    final, thr = finish_classical(cand, g, shape=vol.shape, diameter_px=(9.0, 7.0, 7.0))
    assert thr == pytest.approx(whole.attrs["threshold"])
    np.testing.assert_allclose(np.sort(final["score"]), np.sort(whole["score"]), rtol=1e-6)


def test_given_parameters_are_kept_and_validated_early(sim):
    kw, g = estimate_classical(
        open_volume(sim.volume), (8.0, 8.0, 8.0), diameter=8, voxel_size=1, invert=False,
        kwargs={"noise": 3.0, "z_blur": 0.0, "threshold": 4.0, "min_relative": 0.2},
    )  # fmt: skip
    assert (kw["noise"], kw["z_blur"], kw["threshold"], g["min_relative"]) == (3.0, 0.0, 4.0, 0.2)
    with pytest.raises(ValueError, match="filter_scale"):
        estimate_classical(
            open_volume(sim.volume), (8.0,) * 3, diameter=8, voxel_size=1, invert=False,
            kwargs={"filter_scale": 9.0},
        )  # fmt: skip


def test_context_grows_with_the_diameter_and_the_z_blur():
    base = classical_context((8.0, 8.0, 8.0), filter_scale=0.5, z_blur=0.0)
    assert base == (20, 20, 20)  # 4.5 background cells of 4 voxels + 2
    blurred = classical_context((8.0, 8.0, 8.0), filter_scale=0.5, z_blur=2.0)
    assert blurred[0] > base[0] + 20 and blurred[1:] == base[1:]
    assert min(classical_context((3.0, 3.0, 3.0), filter_scale=0.5, z_blur=0.0)) >= 3
