"""check_diameter against simulated volumes whose true diameter is known."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from voxpick.analysis import check_diameter, neighbour_ratios
from voxpick.cli.app import app
from voxpick.io import write_tiff
from voxpick.simulate import simulate_volume

TRUE_D = 10.0


@pytest.fixture(scope="module")
def dense():
    return simulate_volume(96, radius=TRUE_D / 2, volfrac=0.45, snr=8, cnr=5, rng=1)


def test_neighbour_ratios_are_in_diameters_per_axis():
    pos = np.array([[0, 0, 0], [20, 0, 0], [0, 10, 0], [0, 0, 25]], dtype=float)
    np.testing.assert_allclose(neighbour_ratios(pos, diameter=(20, 10, 10)), [1, 1, 1, 2.5])
    # an isotropic metric would call the z neighbour two diameters away
    np.testing.assert_allclose(neighbour_ratios(pos, diameter=10)[:3], [1, 2, 1])
    # the same diameter in physical units with anisotropic voxels
    np.testing.assert_allclose(
        neighbour_ratios(pos, diameter=2.0, voxel_size=(0.1, 0.2, 0.2)), [1, 1, 1, 2.5]
    )
    assert neighbour_ratios(pos[:1], diameter=10).size == 0


def test_true_diameter_is_consistent(dense):
    result = check_diameter(dense.volume, diameter=TRUE_D)
    assert result.verdict == "consistent"
    assert result.close_share < 0.05
    assert result.median_ratio == pytest.approx(1.0, abs=0.05)
    assert result.suggested is None
    assert "consistent with the diameter" in result.message


@pytest.mark.parametrize(("told", "voxel_size"), [(14.0, 1), ((14.0, 14.0, 14.0), 1), (1.4, 0.1)])
def test_too_large_diameter_is_found_and_corrected(dense, told, voxel_size):
    result = check_diameter(dense.volume, diameter=told, voxel_size=voxel_size)
    assert result.verdict == "too large"
    assert result.close_share > 0.5
    suggested_px = np.asarray(result.suggested, dtype=float) / voxel_size
    np.testing.assert_allclose(suggested_px, TRUE_D, rtol=0.1)
    assert np.ndim(result.suggested) == np.ndim(told)  # same form as told
    assert result.suggested_close_share is not None and result.suggested_close_share < 0.05
    assert "Use diameter=" in result.message
    # detections already at hand skip the first locate and give the same answer
    from voxpick.api import locate

    first = locate(dense.volume, diameter=told, voxel_size=voxel_size)  # the same default method
    assert check_diameter(dense.volume, diameter=told, voxel_size=voxel_size, found=first) == result
    # measuring only: the same figures, no rerun, no suggestion
    measured = check_diameter(dense.volume, diameter=told, voxel_size=voxel_size, max_reruns=0)
    assert measured.verdict == "inconsistent" and measured.suggested is None
    assert measured.close_share == result.close_share


def test_over_detection_is_not_blamed_on_the_diameter():
    # harder than the challenge's test set (PSF sigma 0.68 r): the U-Net finds impossible
    # neighbours at the true diameter, and a smaller diameter makes it worse, not consistent
    sim = simulate_volume(96, radius=9, volfrac=0.55, particle_size=0.125, snr=3, cnr=3, rng=3)
    result = check_diameter(sim.volume, diameter=18, method="unet")
    assert result.verdict == "inconsistent"
    assert result.close_share > 0.25
    assert result.suggested is not None and result.suggested < 18
    assert "over-detects" in result.message


def test_too_few_detections_are_not_judged():
    noise = np.random.default_rng(0).normal(100, 10, (48, 48, 48))
    # classical: the U-Net (and so method="auto") finds peaks in pure noise
    result = check_diameter(noise, diameter=8, method="classical")
    assert result.verdict == "too few"
    assert result.n_found < 30


def test_bad_arguments_fail_before_detection(dense):
    with pytest.raises(ValueError, match="diameter"):
        check_diameter(dense.volume, diameter=-3)
    with pytest.raises(TypeError, match="min_detections"):
        check_diameter(dense.volume, diameter=10, min_detections=2.5)
    with pytest.raises(ValueError, match="min_detections"):
        check_diameter(dense.volume, diameter=10, min_detections=1)
    with pytest.raises(TypeError, match="max_reruns"):
        check_diameter(dense.volume, diameter=10, max_reruns=None)
    with pytest.raises(ValueError, match="max_reruns"):
        check_diameter(dense.volume, diameter=10, max_reruns=-1)
    with pytest.raises(ValueError, match="method"):
        check_diameter(dense.volume, diameter=10, method="magic")


def test_cli_check_diameter(tmp_path, dense):
    path = tmp_path / "dense.tif"
    write_tiff(path, dense.volume)
    runner = CliRunner()
    out = runner.invoke(app, ["check-diameter", str(path), "--diameter", "14"])
    assert out.exit_code == 0, out.output
    assert "too large" in out.output and "Use --diameter " in out.output
    # the next command, whole on its own line (no wrap at 80 columns), ready to paste
    assert f"voxpick locate {path} --diameter " in out.output.splitlines()[-1]
    ok = runner.invoke(app, ["check-diameter", str(path), "--diameter", "10"])
    assert ok.exit_code == 0
    assert any(line.startswith("consistent") for line in ok.output.splitlines())
    bad = runner.invoke(app, ["check-diameter", str(path), "--diameter", "ten"])
    assert bad.exit_code == 2 and "--diameter" in bad.output


def test_crowding_warning_needs_no_detection(dense):
    from voxpick.analysis import crowding_warning

    assert crowding_warning(dense.truth, diameter=TRUE_D) == ""
    text = crowding_warning(dense.truth, diameter=1.5 * TRUE_D)
    assert "closer than 0.8 diameter" in text
    assert crowding_warning(dense.truth.iloc[:20], diameter=5 * TRUE_D) == ""  # too few
