import json

import typer
from typer.testing import CliRunner

from voxpick.cli.train import register

runner = CliRunner()

TINY = {
    "steps": 2,
    "batch_size": 1,
    "patch": 16,
    "pool_size": 1,
    "pool_volume": 16,
    "warmup": 1,
    "ckpt_every": 1,
    "model": {"channels": [4, 8], "strides": [2], "num_res_units": 0},
    "ranges": {"radius": [3.0, 3.5], "p_zstep": 0.0, "p_dense": 0.0, "volfrac": [0.2, 0.3]},
}


def make_app():
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keep "train" as a sub-command
        pass

    return app


def test_train_command_runs_and_resumes(tmp_path):
    app = make_app()
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    out = tmp_path / "run"
    args = ["train", "--out", str(out), "--config", str(cfg), "--seed", "3", "--no-progress"]
    result = runner.invoke(app, [*args, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for name in ("config.json", "ckpt.pt", "model.pt", "model.json"):
        assert (out / name).is_file()
    saved = json.loads((out / "config.json").read_text())
    assert saved["seed"] == 3 and saved["steps"] == 2
    result = runner.invoke(app, ["train", "--out", str(out), "--resume", "--steps", "3"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "model.json").read_text())["steps"] == 3


def test_train_command_reports_bad_config(tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"stepz": 3}))
    result = runner.invoke(
        make_app(), ["train", "--out", str(tmp_path / "o"), "--config", str(cfg)]
    )
    assert result.exit_code == 2
    assert "stepz" in result.output
