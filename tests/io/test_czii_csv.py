from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voxpick.io import picks_to_angstrom, picks_to_voxels, read_submission, write_submission
from voxpick.metrics.czii import czii_score


def _picks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "experiment": ["TS_5_4", "TS_5_4", "TS_69_2"],
            "particle_type": ["ribosome", "apo-ferritin", "ribosome"],
            "z": [100.5, 0.1, 1 / 3],
            "y": [2000.25, 12.0, 7.0],
            "x": [3000.125, 13.0, 6.0],
            "score": [0.9, 0.5, 0.1],
        }
    )


def test_write_header_order_and_exact_round_trip(tmp_path: Path) -> None:
    picks = _picks()
    path = write_submission(tmp_path / "sub.csv", picks)
    lines = path.read_text().splitlines()
    assert lines[0] == "id,experiment,particle_type,x,y,z"
    # x first in the file: x, y, z columns hold the frame's x, y, z (not z, y, x)
    assert lines[1] == "0,TS_5_4,ribosome,3000.125,2000.25,100.5"
    out = read_submission(path)
    assert list(out.columns) == ["id", "experiment", "particle_type", "x", "y", "z"]
    assert out["id"].tolist() == [0, 1, 2]
    for axis in "zyx":
        assert out[axis].tolist() == picks[axis].tolist()  # bit-exact
    assert out["experiment"].tolist() == picks["experiment"].tolist()
    assert [p.name for p in tmp_path.iterdir()] == ["sub.csv"]


def test_frames_feed_czii_score(tmp_path: Path) -> None:
    picks = _picks()
    write_submission(tmp_path / "sub.csv", picks)
    sub = read_submission(tmp_path / "sub.csv")
    score, table = czii_score(sub, sub)
    per = table.set_index("particle_type")
    assert per.loc["ribosome", "tp"] == 2
    assert per.loc["apo-ferritin", "tp"] == 1
    assert score == pytest.approx(2 / 7)  # ribosome + apo-ferritin, weight 1 each of 7


def test_numeric_experiment_names_stay_strings(tmp_path: Path) -> None:
    picks = _picks().assign(experiment=["007", "007", "12"])
    write_submission(tmp_path / "s.csv", picks)
    assert read_submission(tmp_path / "s.csv")["experiment"].tolist() == ["007", "007", "12"]


def test_empty_picks(tmp_path: Path) -> None:
    empty = _picks().iloc[:0]
    write_submission(tmp_path / "s.csv", empty)
    assert (tmp_path / "s.csv").read_text() == "id,experiment,particle_type,x,y,z\n"
    assert len(read_submission(tmp_path / "s.csv")) == 0


def test_write_errors_leave_no_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"missing columns \['experiment'\]"):
        write_submission(tmp_path / "s.csv", _picks().drop(columns="experiment"))
    bad = _picks()
    bad.loc[1, "y"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_submission(tmp_path / "s.csv", bad)
    bad = _picks()
    bad.loc[2, "particle_type"] = ""
    with pytest.raises(ValueError, match=r"empty 'particle_type' \(first at row 2\)"):
        write_submission(tmp_path / "s.csv", bad)
    with pytest.raises(TypeError, match="DataFrame"):
        write_submission(tmp_path / "s.csv", np.zeros((2, 3)))  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_read_errors(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,experiment,particle_type,x,y\n0,TS,ribosome,1,2\n")
    with pytest.raises(ValueError, match=r"missing columns \['z'\]"):
        read_submission(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("id,experiment,particle_type,x,y,z\n0,TS,ribosome,1,,3\n")
    with pytest.raises(ValueError, match=r"column 'y' has 1 empty.*row 0"):
        read_submission(tmp_path / "b.csv")
    with pytest.raises(FileNotFoundError):
        read_submission(tmp_path / "nope.csv")


def test_unit_conversion_anisotropic_frame_and_array() -> None:
    px = pd.DataFrame({"z": [1.0, 2.0], "y": [3.0, 4.0], "x": [5.0, 6.0], "score": [0.5, 0.7]})
    vs = (20.0, 10.0, 5.0)
    ang = picks_to_angstrom(px, voxel_size=vs)
    assert ang["z"].tolist() == [20.0, 40.0]
    assert ang["y"].tolist() == [30.0, 40.0]
    assert ang["x"].tolist() == [25.0, 30.0]
    assert ang["score"].tolist() == [0.5, 0.7]
    assert px["z"].tolist() == [1.0, 2.0]  # input untouched
    back = picks_to_voxels(ang, voxel_size=vs)
    pd.testing.assert_frame_equal(back, px)
    arr = picks_to_angstrom(px[["z", "y", "x"]].to_numpy(), voxel_size=10.012)
    np.testing.assert_allclose(arr, px[["z", "y", "x"]].to_numpy() * 10.012)
    np.testing.assert_allclose(picks_to_voxels(arr, voxel_size=10.012), px[["z", "y", "x"]])


def test_unit_conversion_errors() -> None:
    px = pd.DataFrame({"z": [1.0], "y": [np.nan], "x": [5.0]})
    with pytest.raises(ValueError, match="NaN"):
        picks_to_angstrom(px, voxel_size=1.0)
    with pytest.raises(ValueError, match="voxel_size"):
        picks_to_voxels(px.fillna(0), voxel_size=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match=r"missing columns \['x'\]"):
        picks_to_voxels(px.drop(columns="x"), voxel_size=1.0)
