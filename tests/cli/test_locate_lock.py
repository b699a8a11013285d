"""`voxpick locate` into an output another run is writing: one error line naming that run."""

from __future__ import annotations

import numpy as np
from filelock import FileLock
from typer.testing import CliRunner

from voxpick.cli.app import app
from voxpick.simulate import simulate_volume


def test_a_second_run_on_one_output_prints_one_line_naming_the_first(tmp_path):
    np.save(tmp_path / "v.npy", simulate_volume(32, radius=3, volfrac=0.3, rng=2).volume)
    (tmp_path / ".p.csv.lock.json").write_text('{"pid": 4242, "host": "node7", "started": "now"}')
    args = ["locate", str(tmp_path / "v.npy"), "-o", str(tmp_path / "p.csv"), "--diameter", "6"]
    with FileLock(str(tmp_path / ".p.csv.lock")):
        result = CliRunner().invoke(app, [*args, "--chunks", "16"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "error:" in text and "another voxpick run (pid 4242 on node7" in text
    assert "Traceback" not in text and not (tmp_path / "p.csv").exists()
