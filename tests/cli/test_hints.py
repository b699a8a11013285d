"""What the commands suggest after a run: --invert, check-diameter, a consistent diameter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from voxpick.analysis import DiameterCheck
from voxpick.cli.app import app
from voxpick.simulate import simulate_volume

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def dark_npy(tmp_path_factory) -> Path:
    sim = simulate_volume(48, radius=4, volfrac=0.2, snr=8, cnr=4, invert=True, rng=41)
    path = tmp_path_factory.mktemp("deep" * 12) / "dark_particles_on_a_bright_background.npy"
    np.save(path, sim.volume)
    return path


def test_dark_particles_get_an_invert_suggestion_on_one_line(dark_npy, tmp_path: Path):
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["locate", str(dark_npy), "-o", str(out), "--diameter", "8",
                                 "--method", "classical"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "darker than the background" in flat(result.output)
    lines = result.output.splitlines()
    # the command is printed whole on its own line (longer than 80 columns: never wrapped)
    wanted = f"voxpick locate {dark_npy} --diameter 8 --method classical -o {out} --invert"
    assert wanted in lines and len(wanted) > 80
    fixed = runner.invoke(app, wanted.split()[1:])  # the words after "voxpick"
    assert fixed.exit_code == 0, fixed.output
    assert "darker than the background" not in fixed.output


def test_bright_particles_with_invert_are_questioned(tmp_path: Path):
    sim = simulate_volume(48, radius=4, volfrac=0.2, snr=8, cnr=4, rng=42)
    np.save(tmp_path / "bright.npy", sim.volume)
    result = runner.invoke(app, ["locate", str(tmp_path / "bright.npy"), "-o",
                                 str(tmp_path / "p.csv"), "--diameter", "8", "--invert",
                                 "--method", "classical"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "--invert may be wrong" in flat(result.output)


def test_check_diameter_prints_a_ready_command(tmp_path: Path):
    dense = simulate_volume(64, radius=4, volfrac=0.5, snr=8, cnr=5, rng=23)
    path = tmp_path / "a path long enough to wrap a command at eighty columns" / "dense.npy"
    path.parent.mkdir()
    np.save(path, dense.volume)
    result = runner.invoke(app, ["check-diameter", str(path), "--diameter", "11,11,11",
                                 "--method", "classical"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "too large" in result.output and "(" not in result.output.splitlines()[-1]
    last = result.output.splitlines()[-1]
    assert last.startswith(f"voxpick locate '{path}' --diameter ")
    assert last.endswith("--method classical -o particles.csv")
    told = [float(v) for v in last.split("--diameter ")[1].split()[0].split(",")]
    np.testing.assert_allclose(told, 8.0, rtol=0.12)  # the true diameter


def test_a_drop_in_close_pairs_is_not_called_no_better():
    # levke_v1 with (15, 11, 11) and the classical detector: 53% -> 22% too close
    better = DiameterCheck("inconsistent", 1025, 0.53, 0.79, (9.19, 6.74, 6.74), 2264, 0.22, 0.97)
    assert better.improved and "no better" not in better.message
    assert "better, but still more than 20% too close" in better.message
    assert "--diameter 9.19,6.74,6.74" in better.describe(command_line=True)
    worse = DiameterCheck("inconsistent", 900, 0.4, 0.75, 12.0, 1500, 0.45, 0.7)
    assert not worse.improved and "no better" in worse.message


def test_diameter_check_displays_in_a_notebook():
    check = DiameterCheck("too large", 623, 0.95, 0.66, 9.43, 1100, 0.02, 0.99)
    text = repr(check)
    assert text.startswith("<DiameterCheck too large:") and "Use diameter=9.43" in text
    page = check._repr_html_()
    assert "<table>" in page and "tried 9.43" in page and "95%" in page
