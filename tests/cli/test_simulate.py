import h5py
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from voxpick.cli.app import app

runner = CliRunner()


def test_simulate_writes_challenge_format(tmp_path):
    out = tmp_path / "ds"
    result = runner.invoke(
        app,
        [
            "simulate",
            "--n",
            "2",
            "--size",
            "24",
            "--out",
            str(out),
            "--volfrac",
            "0.3",
            "--radius",
            "3,4",
            "--snr",
            "8",
            "--cnr",
            "4",
            "--seed",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    with h5py.File(out / "x.hdf5") as f:
        assert sorted(f.keys()) == ["0", "1"]
        assert f["0"].shape == (24, 24, 24) and f["0"].dtype == np.uint8
    y = pd.read_csv(out / "y.csv")
    assert list(y.columns) == ["image_index", "Z", "X", "Y"]
    assert (y.groupby("image_index").size() == 2000).all()
    meta = pd.read_csv(out / "metadata.csv", index_col=0)
    assert len(meta) == 2 and (meta["volfrac"] == 0.3).all()
    assert meta["r"].between(3, 4).all() and (meta["SNR"] == 8).all()
    n_rows = y.dropna().groupby("image_index").size()
    assert list(n_rows) == list(meta["n_particles"])
    # same seed, same dataset
    again = tmp_path / "again"
    runner.invoke(
        app,
        [
            "simulate",
            "--n",
            "2",
            "--size",
            "24",
            "--out",
            str(again),
            "--volfrac",
            "0.3",
            "--radius",
            "3,4",
            "--snr",
            "8",
            "--cnr",
            "4",
            "--seed",
            "5",
        ],
    )
    pd.testing.assert_frame_equal(pd.read_csv(again / "y.csv"), y)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--volfrac", "0.7"], "volfrac=0.7"),
        (["--radius=-3"], "radius"),
        (["--radius", "20", "--size", "16"], "smaller than the particle diameter"),
        (["--snr", "abc"], "not a number"),
        (["--layout", "foam"], "layout='foam'"),
    ],
)
def test_simulate_bad_input_is_a_clean_error(tmp_path, args, message):
    out = tmp_path / "bad"
    result = runner.invoke(app, ["simulate", "--n", "1", "--size", "24", "--out", str(out), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists() or not any(out.iterdir())  # nothing partial left behind


def test_unknown_option_is_rejected(tmp_path):
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--bogus", "1"])
    assert result.exit_code != 0
    assert "No such option" in result.output
