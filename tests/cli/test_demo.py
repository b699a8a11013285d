import pandas as pd
from typer.testing import CliRunner

from voxpick.cli.app import app
from voxpick.io import read_tiff


def test_demo_writes_all_outputs_and_finds_most_particles(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--size", "48", "--seed", "3"])
    assert result.exit_code == 0, result.output
    for name in ("volume.tif", "truth.csv", "detections.csv", "metrics.csv", "overlay.png"):
        assert (out / name).stat().st_size > 0, name
    assert read_tiff(out / "volume.tif").shape == (48, 48, 48)
    metrics = pd.read_csv(out / "metrics.csv").iloc[0]
    truth = pd.read_csv(out / "truth.csv")
    found = pd.read_csv(out / "detections.csv")
    assert metrics["n_truth"] == len(truth) > 50
    assert len(found) == metrics["n_pred"]
    assert metrics["precision"] > 0.8 and metrics["recall"] > 0.7
    assert metrics["method"] == "auto"
    assert metrics["detector"] == "unet"  # volume fraction 0.45: auto keeps the U-Net
    assert "method" in result.output
    assert (out / "overlay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.part"))
