"""One grammar for every command: Z,Y,X triples, lengths with units, calibration, --key."""

from __future__ import annotations

import inspect
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpick
from voxpick.cli.app import app
from voxpick.cli.grammar import DEFAULT_METHOD, parse_length, parse_triple, resolve_scale
from voxpick.io import write_positions, write_tiff
from voxpick.io.calibration import Calibration
from voxpick.simulate import simulate_volume

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def sim():
    return simulate_volume(40, radius=4, volfrac=0.3, snr=8, cnr=4, rng=31)


@pytest.fixture(scope="module")
def calibrated(sim, tmp_path_factory) -> Path:
    """``sim`` as an ImageJ TIFF calibrated 0.1 um per voxel (diameter 0.8 um)."""
    return write_tiff(tmp_path_factory.mktemp("cal") / "cal.tif", sim.volume, voxel_size=0.1)


def test_parse_triple_and_length():
    assert parse_triple("10", name="--d") == 10.0
    assert parse_triple("12.8, 11.3,11.3", name="--d") == (12.8, 11.3, 11.3)
    assert parse_triple("128,256,256", name="--chunks", integer=True) == (128, 256, 256)
    for bad, message in [("8,8", "one number or three"), ("0", "positive"), ("x", "not numbers"),
                         ("1.5", "not whole numbers")]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            parse_triple(bad, name="--chunks", integer=bad == "1.5")
    assert parse_length("1.2um", name="--d").unit == "um"
    assert parse_length("1.2 µm", name="--d").value == 1.2
    assert parse_length("15,11,11px", name="--d").unit == "px"
    assert parse_length("150A", name="--d").unit == "A"
    assert parse_length("1e-3", name="--d").value == 1e-3  # an exponent is not a unit
    with pytest.raises(ValueError, match="unknown unit 'parsec'"):
        parse_length("3parsec", name="--d")


def test_resolve_scale_reads_the_diameter_in_the_voxel_size_unit():
    cal = Calibration((0.113, 0.1, 0.1), "um", "the TIFF's ImageJ metadata")
    scale = resolve_scale(diameter="1.5,1.1,1.1", voxel_size=None, calibration=cal)
    assert scale.voxel_size == (0.113, 0.1, 0.1) and scale.unit == "um"
    assert (
        scale.describe_diameter()
        == "diameter 1.5 x 1.1 x 1.1 um = 13.27 x 11 x 11 voxels (z, y, x)"
    )
    assert resolve_scale(diameter="1100nm", voxel_size=None, calibration=cal).diameter == (
        pytest.approx(1.1)
    )
    px = resolve_scale(diameter="10px", voxel_size=None, calibration=cal).diameter
    np.testing.assert_allclose(px, (1.13, 1.0, 1.0))  # 10 voxels on every axis
    told = resolve_scale(diameter="8", voxel_size="0.2", calibration=cal)
    assert told.voxel_size == 0.2 and told.unit == "um" and "differs" in told.warnings[0]
    plain = resolve_scale(diameter="8", voxel_size=None, calibration=None)
    assert plain.voxel_size == 1.0 and plain.describe_diameter() == "diameter 8 voxels"
    with pytest.raises(ValueError, match="records no voxel size: pass --voxel-size"):
        resolve_scale(diameter="1.2um", voxel_size=None, calibration=None)
    # a unit on the diameter gives a bare --voxel-size its unit
    assert resolve_scale(diameter="1.2um", voxel_size="0.1", calibration=None).diameter == 1.2


def test_every_command_defaults_to_the_same_method():
    from voxpick.cli.diameter import check_diameter_command
    from voxpick.cli.locate import locate_command

    assert voxpick.locate.__kwdefaults__["method"] == DEFAULT_METHOD
    for command in (locate_command, check_diameter_command):
        assert inspect.signature(command).parameters["method"].default == DEFAULT_METHOD
    from voxpick.analysis import check_diameter

    assert check_diameter.__kwdefaults__["method"] == DEFAULT_METHOD


def test_locate_takes_the_calibration_from_the_file(sim, calibrated, tmp_path: Path):
    out_um, out_px = tmp_path / "um.csv", tmp_path / "px.csv"
    common = ["--method", "classical", "--no-progress"]
    result = runner.invoke(app, ["locate", str(calibrated), "-o", str(out_um), "--diameter", "0.8",
                                 *common])  # fmt: skip
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "voxel size 0.1 um (from the TIFF's ImageJ metadata)" in text
    assert "diameter 0.8 um = 8 voxels" in text
    px = runner.invoke(app, ["locate", str(calibrated), "-o", str(out_px), "--diameter", "8px",
                             *common])  # fmt: skip
    assert px.exit_code == 0, px.output
    ref = voxpick.locate(sim.volume, diameter=8, method="classical")
    for out in (out_um, out_px):
        found = pd.read_csv(out)
        np.testing.assert_allclose(found[["z", "y", "x"]], ref[["z", "y", "x"]])
    # the library reads the same calibration from the path
    lib = voxpick.locate(calibrated, diameter=0.8, method="classical")
    assert lib.attrs["voxel_size"] == (0.1, 0.1, 0.1) and len(lib) == len(ref)
    assert lib.attrs["voxel_size_source"].startswith("0.1 um (from the TIFF")


def test_a_disagreeing_voxel_size_is_used_with_a_warning(calibrated, tmp_path: Path):
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["locate", str(calibrated), "-o", str(out), "--diameter", "1.6",
                                 "--voxel-size", "0.2", "--method", "classical"])  # fmt: skip
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "warning: --voxel-size 0.2 differs from the file's 0.1 um" in text
    assert "diameter 1.6 um = 8 voxels" in text and out.exists()


def test_physical_diameter_without_any_voxel_size_is_refused(sim, tmp_path: Path):
    np.save(tmp_path / "v.npy", sim.volume)
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["locate", str(tmp_path / "v.npy"), "-o", str(out),
                                 "--diameter", "0.8um"])  # fmt: skip
    assert result.exit_code == 2
    assert "pass --voxel-size" in flat(result.output) and not out.exists()


def test_multi_dataset_hdf5_needs_key(tmp_path: Path):
    # voxpick simulate's own output holds one dataset per volume
    sim_dir = tmp_path / "sim"
    made = runner.invoke(app, ["simulate", "-o", str(sim_dir), "--n", "2", "--size", "32",
                               "--radius", "4", "--seed", "1"])  # fmt: skip
    assert made.exit_code == 0, made.output
    data, out = sim_dir / "x.hdf5", tmp_path / "p.csv"
    base = ["locate", str(data), "-o", str(out), "--diameter", "8", "--method", "classical"]
    missing = runner.invoke(app, base)
    assert missing.exit_code == 2 and not out.exists()
    assert "choose one with --key, e.g. --key 0 (datasets: '0', '1')" in flat(missing.output)
    wrong = runner.invoke(app, [*base, "--key", "7"])
    assert wrong.exit_code == 2 and "has no dataset '7'" in flat(wrong.output)
    assert "--key" in flat(wrong.output) and not out.exists()
    ok = runner.invoke(app, [*base, "--key", "1"])
    assert ok.exit_code == 0, ok.output
    with h5py.File(data) as f:
        expected = voxpick.locate(f["1"][()], diameter=8, method="classical")
    assert len(pd.read_csv(out)) == len(expected) > 0
    for command in (["check-diameter", str(data), "--diameter", "8"],
                    ["report", str(data), str(out), "--diameter", "8", "-o",
                     str(tmp_path / "r.html")]):  # fmt: skip
        result = runner.invoke(app, command)
        assert result.exit_code == 2 and "--key" in flat(result.output), command
    assert not (tmp_path / "r.html").exists()


def test_key_on_a_file_that_is_not_hdf5(calibrated, tmp_path: Path):
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["locate", str(calibrated), "-o", str(out), "--diameter", "8px",
                                 "--key", "0"])  # fmt: skip
    assert result.exit_code == 2 and "is not one (.h5/.hdf5)" in flat(result.output)
    assert not out.exists()


def test_report_takes_zyx_diameters_and_agrees_with_locate(sim, tmp_path: Path):
    from voxpick.analysis import crowding_warning, neighbour_ratios

    vol = tmp_path / "v.tif"
    write_tiff(vol, sim.volume)
    det = sim.truth.copy()
    write_positions(tmp_path / "det.csv", det)
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(vol), str(tmp_path / "det.csv"),
                                 "--diameter", "11,10,10", "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    page = voxpick.report(sim.volume, det, diameter=(11, 10, 10))
    share = float(np.mean(neighbour_ratios(det, diameter=(11, 10, 10)) < 0.8))
    # the report's close-pair figure is the one locate's hint is computed from
    got = page.stats["detections: share with a neighbour closer than 0.8 d"]
    assert got == pytest.approx(share)
    assert share > 0.25 and crowding_warning(det, diameter=(11, 10, 10))
    assert out.read_text().count("data:image/png;base64,") == 4


def test_report_reads_the_diameter_locate_recorded(calibrated, tmp_path: Path):
    det = tmp_path / "found.csv"
    ran = runner.invoke(app, ["locate", str(calibrated), "-o", str(det), "--diameter", "0.8",
                              "--method", "classical"])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(calibrated), str(det), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "recorded with found.csv" in flat(result.output) and out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "r.txt"], "must end in .html"),
        (["--point", "3,4"], "one number or three"),
        (["--point", "3"], "needs 3 values"),
        (["--diameter", "8", "--voxel-size", "0.1,0.2"], "one number or three"),
    ],
)
def test_report_bad_options_write_nothing(sim, tmp_path: Path, extra, message):
    vol = tmp_path / "v.tif"
    write_tiff(vol, sim.volume)
    write_positions(tmp_path / "det.csv", sim.truth[["z", "y", "x"]])  # no recorded diameter
    args = ["report", str(vol), str(tmp_path / "det.csv"), *extra]
    if "--diameter" not in extra:
        args += ["--diameter", "8"]
    if "-o" not in extra:
        args += ["-o", str(tmp_path / "r.html")]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["det.csv", "v.tif"]


def test_report_without_any_diameter_is_a_clear_error(sim, tmp_path: Path):
    vol = tmp_path / "v.tif"
    write_tiff(vol, sim.volume)
    write_positions(tmp_path / "det.csv", sim.truth[["z", "y", "x"]])
    result = runner.invoke(app, ["report", str(vol), str(tmp_path / "det.csv"),
                                 "-o", str(tmp_path / "r.html")])  # fmt: skip
    assert result.exit_code == 2 and "pass --diameter" in flat(result.output)
    assert not (tmp_path / "r.html").exists()


def test_pick_names_the_key_option_too(tmp_path: Path):
    path, out = tmp_path / "tomos.h5", tmp_path / "picks.csv"
    with h5py.File(path, "w") as f:
        for name in ("a", "b"):
            f.create_dataset(name, data=np.zeros((32, 32, 32), np.float32))
    result = runner.invoke(app, ["pick", str(path), "-o", str(out), "--voxel-size", "10"])
    assert result.exit_code == 2
    assert "choose one with --key, e.g. --key a (datasets: 'a', 'b')" in flat(result.output)
    assert not out.exists()
