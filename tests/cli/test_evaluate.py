"""`voxpick evaluate` end to end, through the real application object."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
import typer.core
import typer.main
from typer.testing import CliRunner

from voxpick.cli.app import app

runner = CliRunner()


def invoke(*args: str):
    # With a single registered command Typer runs it without a sub-command name.
    is_group = isinstance(typer.main.get_command(app), typer.core.TyperGroup)
    return runner.invoke(app, ["evaluate", *args] if is_group else list(args))


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    pred = tmp_path / "pred.csv"
    truth = tmp_path / "truth.csv"
    pd.DataFrame(
        {"z": [10, 20, 40], "y": [10, 20, 40], "x": [10, 21, 40], "score": [0.9, 0.8, 0.5]}
    ).to_csv(pred, index=False)
    pd.DataFrame({"z": [10, 20, 30], "y": [10, 20, 30], "x": [10, 20, 30]}).to_csv(
        truth, index=False
    )
    return pred, truth


def test_clean_table_and_plot(files, tmp_path):
    pred, truth = files
    out = tmp_path / "plots" / "pr.png"
    result = invoke(str(pred), str(truth), "--diameter", "6", "--plot", str(out))
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    # 2 of 3 matched within 3 voxels; AP = mean over 0.6..3.0 = (34 + 4 * 67) / 505.
    assert "precision │ 0.6667" in text
    assert "recall │ 0.6667" in text
    assert "mean error │ 0.5000" in text
    assert f"{302 / 505:.4f}" in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["pr.png"]  # no temporary file left


def test_clean_voxel_size_changes_matching(files):
    pred, truth = files
    # x is 1 voxel off for the second pair; with x voxels of 4 units it is 4 > 3 apart.
    result = invoke(str(pred), str(truth), "--diameter", "6", "--voxel-size", "1,1,4")
    assert result.exit_code == 0, result.output
    assert "TP │ 1" in flat(result.output)


def test_challenge_metric(files, tmp_path):
    pred, truth = files
    out = tmp_path / "ch.svg"
    result = invoke(
        str(pred), str(truth), "--diameter", "6", "--metric", "challenge",
        "--canvas-size", "64,64,64", "--plot", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "challenge AP: 0.444444" in result.output
    assert out.read_text().lstrip().startswith("<?xml")


def test_challenge_needs_canvas_size(files):
    pred, truth = files
    result = invoke(str(pred), str(truth), "--diameter", "6", "--metric", "challenge")
    assert result.exit_code == 2
    assert "--canvas-size" in flat(result.output)


def test_czii_metric(tmp_path):
    sol = tmp_path / "solution.csv"
    sub = tmp_path / "submission.csv"
    cols = ["experiment", "particle_type", "x", "y", "z"]
    pd.DataFrame(
        [["TS_1", "ribosome", 1000, 0, 0], ["TS_1", "ribosome", 1100, 0, 0]], columns=cols
    ).to_csv(sol, index=False)
    pd.DataFrame([["TS_1", "ribosome", 1050, 0, 0]], columns=cols).to_csv(sub, index=False)
    result = invoke(str(sub), str(sol), "--metric", "czii")
    assert result.exit_code == 0, result.output
    assert f"CZII score: {34 / 33 / 7:.6f}" in result.output
    assert "-1" in result.output  # the negative FP is shown as is


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "needs --diameter"),
        (["--diameter", "6", "--metric", "czii", "--plot", "x.png"], "--plot is not available"),
        (["--diameter", "6", "--plot", "pr.unknownext"], "unsupported extension"),
        (["--diameter", "6", "--border", "2"], "canvas_size"),
        (["--diameter", "6", "--canvas-size", "a,b,c"], "--canvas-size 'a,b,c' is not numbers"),
        (["--diameter", "-1"], "diameter=-1.0"),
    ],
)
def test_user_errors_exit_2(files, tmp_path, extra, message):
    pred, truth = files
    result = invoke(str(pred), str(truth), *extra)
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)
    assert not list(tmp_path.glob("*.unknownext"))


def test_missing_file_and_columns(files, tmp_path):
    pred, truth = files
    result = invoke(str(tmp_path / "nope.csv"), str(truth), "--diameter", "6")
    assert result.exit_code == 2
    assert "does not exist" in flat(result.output)
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(bad, index=False)
    result = invoke(str(pred), str(bad), "--diameter", "6")
    assert result.exit_code == 2
    assert "lacks columns ['z', 'y', 'x']" in flat(result.output)


def test_registered_on_the_app():
    names = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}
    assert "evaluate" in names
    assert isinstance(app, typer.Typer)


@pytest.mark.parametrize(
    ("role", "column", "metric"),
    [("PRED", "y", "clean"), ("TRUTH", "x", "clean"), ("PRED", "score", "clean"),
     ("PRED", "z", "czii"), ("TRUTH", "y", "czii")],
)  # fmt: skip
def test_a_non_numeric_value_names_the_file_and_the_column(tmp_path, role, column, metric):
    cols = ["experiment", "particle_type", "x", "y", "z", "score"]
    rows = [["TS_1", "ribosome", 10.0, 20.0, 30.0, 0.9], ["TS_1", "ribosome", 1.0, 2.0, 3.0, 0.5]]
    good = pd.DataFrame(rows, columns=cols)
    bad = good.astype({column: object})
    bad.loc[1, column] = "abc"
    paths = {"PRED": tmp_path / "pred.csv", "TRUTH": tmp_path / "truth.csv"}
    for name, path in paths.items():
        (bad if name == role else good).to_csv(path, index=False)
    extra = ["--metric", "czii"] if metric == "czii" else ["--diameter", "6"]
    result = invoke(str(paths["PRED"]), str(paths["TRUTH"]), *extra)
    text = flat(result.output)
    assert result.exit_code == 2, result.output
    assert f"{role} file '{paths[role]}'" in text and f"column '{column}'" in text, text
    assert "'abc'" in text and "Traceback" not in text
