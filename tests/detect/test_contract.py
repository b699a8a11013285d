"""The classical detector's three steps: global estimates, block candidates, the finish."""

from __future__ import annotations

import numpy as np
import pytest

from voxpick.api import locate
from voxpick.detect import ClassicalDetector, Setup
from voxpick.detect.classical import classical_context
from voxpick.io.source import open_volume
from voxpick.simulate import simulate_volume
from voxpick.tiling import run_detector


@pytest.fixture(scope="module")
def sim():
    return simulate_volume((45, 70, 66), radius=3.5, volfrac=0.4, psf_aspect=3.0, rng=5)


@pytest.mark.parametrize("invert", [False, True])
def test_estimates_from_samples_equal_the_whole_volume_ones(sim, invert):
    """Noise from every step-th slice and z blur from the central crop: what a block run uses."""
    from voxpick.detect.filters import estimate_noise, estimate_z_blur

    vol = (255 - sim.volume) if invert else sim.volume
    setup = Setup(diameter_px=(9.0, 7.0, 7.0), invert=invert, shape=vol.shape)
    params = ClassicalDetector().estimate(open_volume(vol), setup)
    bright = -vol.astype(np.float32) if invert else vol.astype(np.float32)
    assert params["noise"] == estimate_noise(bright)
    assert params["z_blur_var"] == estimate_z_blur(bright, (9.0, 7.0, 7.0), params["noise"]) > 0
    assert params["floor"] == 2.5


def test_finish_chooses_the_threshold_on_all_candidates(sim):
    """One block's candidates, finished, are the whole-volume detections; a block is not."""
    detector = ClassicalDetector()
    setup = Setup(diameter_px=(9.0, 7.0, 7.0), invert=False, shape=sim.volume.shape)
    source = open_volume(sim.volume)
    params = detector.estimate(source, setup)
    box = (slice(0, 45), slice(0, 70), slice(0, 66))
    candidates = detector.find(sim.volume, setup, params, box=box)
    assert candidates["score"].isna().all() and (candidates["snr"] >= 2.5).all()
    final = detector.finish(candidates, setup, params)
    whole = locate(sim.volume, diameter=(9, 7, 7), method="classical")
    assert final.attrs["threshold"] == whole.attrs["threshold"] > 2.5
    np.testing.assert_allclose(np.sort(final["snr"]), np.sort(whole["snr"]))
    blocks = run_detector(source, detector, setup, params, chunks=24)
    assert blocks.attrs["n_blocks"] > 1 and blocks.attrs["threshold"] == whole.attrs["threshold"]


def test_given_parameters_are_kept_and_validated_early(sim):
    detector = ClassicalDetector(noise=3.0, z_blur=0.0, threshold=4.0, min_relative=0.2)
    setup = Setup(diameter_px=(8.0, 8.0, 8.0), invert=False, shape=sim.volume.shape)
    params = detector.estimate(open_volume(sim.volume), setup)
    assert (params["noise"], params["z_blur_var"], params["floor"]) == (3.0, 0.0, 4.0)
    with pytest.raises(ValueError, match="filter_scale"):
        ClassicalDetector(filter_scale=9.0)


def test_context_grows_with_the_diameter_and_the_z_blur():
    base = classical_context((8.0, 8.0, 8.0), filter_scale=0.5, z_blur=0.0)
    assert base == (20, 20, 20)  # 4.5 background cells of 4 voxels + 2
    blurred = classical_context((8.0, 8.0, 8.0), filter_scale=0.5, z_blur=2.0)
    assert blurred[0] > base[0] + 20 and blurred[1:] == base[1:]
    assert min(classical_context((3.0, 3.0, 3.0), filter_scale=0.5, z_blur=0.0)) >= 3
