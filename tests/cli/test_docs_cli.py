"""The examples of docs/cli.md run as written: its python blocks, then every `voxpick` line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import matplotlib
from typer.testing import CliRunner

from voxpick.cli.app import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BLOCK = re.compile(r"^ *```(python|bash)\n(.*?)^ *```", re.DOTALL | re.MULTILINE)


def test_docs_cli_examples_run(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    namespace: dict[str, object] = {"__name__": "__docs__"}
    outputs = {}
    for kind, code in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        if kind == "python":
            exec(compile(code, "docs/cli.md", "exec"), namespace)
            continue
        for line in code.splitlines():
            line = line.strip()
            if not line.startswith("voxpick "):
                continue
            result = runner.invoke(app, shlex.split(line)[1:])
            assert result.exit_code == 0, f"{line}\n{result.output}"
            outputs[line] = " ".join(result.output.split())
    first = outputs["voxpick locate stack.tif -o particles.csv --diameter 0.8"]
    assert "voxel size 0.12 x 0.1 x 0.1 um (from the TIFF's ImageJ metadata)" in first
    assert "diameter 0.8 um = 6.667 x 8 x 8 voxels (z, y, x)" in first
    dark = outputs["voxpick locate dark.tif -o dark.csv --diameter 8 --method classical"]
    assert "voxpick locate dark.tif --diameter 8 --method classical -o dark.csv --invert" in dark
    check = outputs["voxpick check-diameter stack.tif --diameter 1.1um --method classical"]
    assert "too large" in check and "voxpick locate stack.tif --diameter 0." in check
    assert (tmp_path / "report.html").is_file() and (tmp_path / "report-py.html").is_file()
