"""`voxpick locate` end to end, through the real application object."""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer.core
import typer.main
from typer.testing import CliRunner

from voxpick.api import locate
from voxpick.cli.app import app
from voxpick.detect import DETECTION_COLUMNS
from voxpick.io import write_tiff
from voxpick.metrics import evaluate
from voxpick.simulate import simulate_volume

locate_unet = partial(locate, method="unet")

runner = CliRunner()


def invoke(*args: str):
    # With a single registered command Typer runs it without a sub-command name.
    is_group = isinstance(typer.main.get_command(app), typer.core.TyperGroup)
    return runner.invoke(app, ["locate", *args] if is_group else list(args))


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def sim():
    return simulate_volume(48, radius=4, volfrac=0.4, snr=8, cnr=4, rng=21)


@pytest.fixture(scope="module")
def sim_npy(sim, tmp_path_factory) -> Path:
    """``sim``'s volume saved as .npy."""
    src = tmp_path_factory.mktemp("sim") / "vol.npy"
    np.save(src, sim.volume)
    return src


@pytest.fixture(scope="module")
def dark():
    return simulate_volume(48, radius=4, volfrac=0.4, snr=8, cnr=4, invert=True, rng=22)


def test_tiff_to_csv(sim, tmp_path: Path):
    src = tmp_path / "vol.tif"
    write_tiff(src, sim.volume)
    out = tmp_path / "res" / "particles.csv"
    result = invoke(str(src), "-o", str(out), "--diameter", "8")
    assert result.exit_code == 0, result.output
    assert "particles in vol.tif" in flat(result.output)
    assert "auto: unet (U-Net volume fraction 0." in flat(result.output)  # the default method
    found = pd.read_csv(out)
    assert list(found.columns) == list(DETECTION_COLUMNS)
    ev = evaluate(sim.truth, found, diameter=8, border=4, canvas_size=sim.volume.shape)
    assert ev.recall > 0.95 and ev.precision > 0.95
    assert not list(out.parent.glob(".*.part"))
    assert "check-diameter" not in result.output  # the right diameter: no hint


def test_too_large_diameter_gets_a_hint(tmp_path: Path):
    dense = simulate_volume(64, radius=4, volfrac=0.5, snr=8, cnr=5, rng=23)
    src = tmp_path / "dense.tif"
    write_tiff(src, dense.volume)
    result = invoke(str(src), "-o", str(tmp_path / "p.csv"), "--diameter", "11")
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "closer than 0.8 diameter" in text and "voxpick check-diameter" in text


def test_unet_method(sim, sim_npy, tmp_path: Path):
    out = tmp_path / "unet.csv"
    result = invoke(str(sim_npy), "-o", str(out), "--diameter", "8", "--method", "unet")
    assert result.exit_code == 0, result.output
    found = pd.read_csv(out)
    assert list(found.columns) == list(DETECTION_COLUMNS)
    ev = evaluate(sim.truth, found, diameter=8, border=4, canvas_size=sim.volume.shape)
    assert ev.recall > 0.9 and ev.precision > 0.9, ev


def test_unknown_method_is_a_clear_error(sim_npy, tmp_path: Path):
    out = tmp_path / "x.csv"
    result = invoke(str(sim_npy), "-o", str(out), "--diameter", "8", "--method", "magic")
    assert result.exit_code == 2
    assert "classical" in flat(result.output) and "unet" in flat(result.output)
    assert not out.exists()


def test_npy_invert_and_units(dark, tmp_path: Path):
    src = tmp_path / "vol.npy"
    np.save(src, dark.volume)
    out = tmp_path / "dark.csv"
    result = invoke(
        str(src), "-o", str(out), "--diameter", "0.8", "--voxel-size", "0.1", "--invert"
    )
    assert result.exit_code == 0, result.output
    found = pd.read_csv(out)
    ev = evaluate(dark.truth, found, diameter=8, border=4, canvas_size=dark.volume.shape)
    assert ev.recall > 0.95 and ev.precision > 0.95


def test_anisotropic_diameter_threshold_and_raw(sim, tmp_path: Path):
    src = tmp_path / "vol.raw"
    sim.volume.astype(np.uint8).tofile(src)
    out = tmp_path / "p.csv"
    result = invoke(
        str(src), "-o", str(out), "--diameter", "9,8,8", "--shape", "48,48,48",
        "--threshold", "10", "--method", "classical",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    found = pd.read_csv(out)
    assert len(found) > 50
    assert (found.snr >= 10).all() and (found.score >= 1).all()


def test_empty_volume_writes_header_only(tmp_path: Path):
    src = tmp_path / "flat.npy"
    np.save(src, np.full((24, 24, 24), 7, np.uint8))
    out = tmp_path / "none.csv"
    result = invoke(str(src), "-o", str(out), "--diameter", "6")
    assert result.exit_code == 0, result.output
    found = pd.read_csv(out)
    assert len(found) == 0
    assert list(found.columns) == list(DETECTION_COLUMNS)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--diameter", "0"], "diameter"),
        (["--diameter", "abc"], "--diameter 'abc' is not a number"),
        (["--diameter", "8,8"], "expected one number or three"),
        (["--diameter", "200"], "larger than the volume"),
        (["--diameter", "8", "--method", "dl"], "expected one of ['auto', 'classical', 'unet']"),
        (["--diameter", "8", "--threshold", "3"], "Add --method classical or --method unet"),
        (["--diameter", "8", "--separation", "4"], "Add --method classical or --method unet"),
        (["--diameter", "8", "--min-relative", "0.3"], "Add --method classical"),
        (
            ["--diameter", "8", "--method", "unet", "--min-relative", "0.3"],
            "Add --method classical",
        ),
        (["--diameter", "8", "--tta"], "Add --method unet"),
        (["--diameter", "8", "--method", "classical", "--tta"], "Add --method unet"),
        (["--diameter", "8", "--method", "unet", "--separation", "4,4"], "one number or three"),
        (["--diameter", "8", "--voxel-size", "0"], "--voxel-size '0' must be positive"),
    ],
)
def test_bad_options_exit_2_without_output(sim_npy, tmp_path: Path, extra, message):
    out = tmp_path / "out.csv"
    result = invoke(str(sim_npy), "-o", str(out), *extra)
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)
    assert not out.exists()
    assert not list(tmp_path.glob(".*.part"))


def test_bad_input_files(tmp_path: Path):
    out = tmp_path / "out.csv"
    missing = invoke(str(tmp_path / "nope.tif"), "-o", str(out), "--diameter", "8")
    assert missing.exit_code == 2 and "no such volume file" in flat(missing.output)
    flat2d = tmp_path / "img.npy"
    np.save(flat2d, np.zeros((32, 32), np.uint8))
    result = invoke(str(flat2d), "-o", str(out), "--diameter", "8")
    assert result.exit_code == 2 and "3D" in flat(result.output)
    src = tmp_path / "vol.npy"
    np.save(src, np.zeros((24, 24, 24), np.uint8))
    result = invoke(str(src), "-o", str(tmp_path / "out.txt"), "--diameter", "8")
    assert result.exit_code == 2 and ".csv" in flat(result.output)
    assert not out.exists()


def test_min_relative_reaches_the_classical_detector(sim, sim_npy, tmp_path: Path):
    from voxpick.api import locate

    out = tmp_path / "p.csv"
    args = [str(sim_npy), "-o", str(out), "--diameter", "8", "--method", "classical"]
    result = invoke(*args, "--min-relative", "0.6")
    assert result.exit_code == 0, result.output
    found = pd.read_csv(out)
    expected = locate(sim.volume, diameter=8, method="classical", min_relative=0.6)
    np.testing.assert_allclose(found[["z", "y", "x"]], expected[["z", "y", "x"]], atol=1e-6)
    assert 0 < len(found) < len(locate(sim.volume, diameter=8, method="classical"))


SMALL_CONFOCAL = (
    Path(__file__).parents[2].parent / "shared/data/colloids-real-crops/small_confocal_image.tif"
)


@pytest.mark.skipif(not SMALL_CONFOCAL.is_file(), reason="../shared/data is absent")
def test_min_relative_drops_the_coverslip_band_of_a_real_stack(tmp_path: Path):
    # dark particles below a dark band (the coverslip): the band's weak peaks are false
    with warnings.catch_warnings():  # the file was written by Python 2
        warnings.simplefilter("ignore", UserWarning)
        known = np.load(SMALL_CONFOCAL.with_name("particle-positions.npy"), encoding="latin1")
    base = [str(SMALL_CONFOCAL), "--diameter", "12,10,10", "--invert", "--method", "classical"]
    runs = {}
    for name, extra in (("default", []), ("raised", ["--min-relative", "0.35"])):
        out = tmp_path / f"{name}.csv"
        result = invoke(*base, "-o", str(out), *extra)
        assert result.exit_code == 0, result.output
        runs[name] = pd.read_csv(out)
    assert (runs["default"].z < 3).sum() > 10  # the band the docs describe
    assert (runs["raised"].z < 3).sum() == 0
    ev = evaluate(known, runs["raised"], diameter=10)
    assert ev.recall > 0.9 and ev.precision > 0.9


def test_separation_reaches_the_detector(sim_npy, tmp_path: Path):
    from scipy.spatial import cKDTree

    nearest = {}
    for sep in ("3.6", "6.4"):  # 0.45 and 0.8 diameter
        out = tmp_path / f"p{sep}.csv"
        args = ["--diameter", "8", "--method", "unet", "--separation", sep]
        result = invoke(str(sim_npy), "-o", str(out), *args)
        assert result.exit_code == 0, result.output
        xyz = pd.read_csv(out)[["z", "y", "x"]].to_numpy()
        nearest[sep] = cKDTree(xyz).query(xyz, k=2)[0][:, 1]
    # the refinement moves a peak by at most 1/16 diameter per axis after the suppression
    assert nearest["6.4"].min() > 6.4 - 2 * np.sqrt(3) * 0.5
    assert nearest["3.6"].min() < nearest["6.4"].min()


def test_tta_flag_merges_three_scales(sim, sim_npy, tmp_path: Path):

    out = tmp_path / "p.csv"
    result = invoke(str(sim_npy), "-o", str(out), "--diameter", "8", "--method", "unet", "--tta")
    assert result.exit_code == 0, result.output
    found = pd.read_csv(out)
    expected = locate_unet(sim.volume, diameter=8, scales="tta")
    np.testing.assert_allclose(found[["z", "y", "x", "score"]], expected[["z", "y", "x", "score"]])
