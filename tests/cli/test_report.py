"""`voxpick report` end to end, through the real application object."""

from __future__ import annotations

import typer.core
import typer.main
from typer.testing import CliRunner

from voxpick.cli.app import app
from voxpick.io import write_positions, write_tiff
from voxpick.simulate import simulate_volume

runner = CliRunner()


def invoke(*args: str):
    is_group = isinstance(typer.main.get_command(app), typer.core.TyperGroup)
    return runner.invoke(app, ["report", *args] if is_group else list(args))


def test_report_command_writes_html(tmp_path):
    sim = simulate_volume(40, radius=4.0, volfrac=0.35, rng=9)
    write_tiff(tmp_path / "vol.tif", sim.volume)
    write_positions(tmp_path / "det.csv", sim.truth.iloc[3:])
    write_positions(tmp_path / "truth.csv", sim.truth)
    out = tmp_path / "out" / "report.html"
    result = invoke(
        str(tmp_path / "vol.tif"), str(tmp_path / "det.csv"), "--diameter", "8",
        "--truth", str(tmp_path / "truth.csv"), "--voxel-size", "1", "-o", str(out),
        "--point", "20,20,20",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 5  # with detections per z plane
    assert "recall" in page and "report: det.csv" in page
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_report_command_errors(tmp_path):
    sim = simulate_volume(32, radius=4.0, volfrac=0.2, rng=9)
    write_tiff(tmp_path / "vol.tif", sim.volume)
    write_positions(tmp_path / "det.csv", sim.truth)
    result = invoke(
        str(tmp_path / "vol.tif"), str(tmp_path / "det.csv"), "--diameter", "8",
        "--voxel-size", "1,2", "-o", str(tmp_path / "r.html"),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--voxel-size" in result.output and not (tmp_path / "r.html").exists()
    result = invoke(str(tmp_path / "nope.tif"), str(tmp_path / "det.csv"), "--diameter", "8")
    assert result.exit_code == 2
