from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voxpick.io import read_positions, write_positions

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None


def _table(n: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    pos = rng.uniform(-1, 300, (n, 3))
    pos[0] = [1 / 3, 1e-300, 123456789.123456789]
    return pd.DataFrame(
        {"z": pos[:, 0], "y": pos[:, 1], "x": pos[:, 2], "score": rng.random(n), "label": "a"}
    )


@pytest.mark.parametrize(
    "suffix",
    [".csv", pytest.param(".parquet", marks=pytest.mark.skipif(not HAS_PYARROW, reason="pyarrow"))],
)
def test_round_trip_exact(tmp_path: Path, suffix: str) -> None:
    df = _table()
    path = write_positions(tmp_path / f"p{suffix}", df)
    out = read_positions(path)
    pd.testing.assert_frame_equal(out, df, check_dtype=False)
    assert np.array_equal(out[["z", "y", "x"]].to_numpy(), df[["z", "y", "x"]].to_numpy())
    assert [p.name for p in tmp_path.iterdir()] == [f"p{suffix}"]


def test_empty_table_and_array_input(tmp_path: Path) -> None:
    write_positions(tmp_path / "e.csv", np.zeros((0, 3)))
    out = read_positions(tmp_path / "e.csv")
    assert list(out.columns) == ["z", "y", "x"] and len(out) == 0
    arr = np.array([[1.0, 2.0, 3.0]])
    write_positions(tmp_path / "a.csv", arr)
    assert np.array_equal(read_positions(tmp_path / "a.csv")[["z", "y", "x"]].to_numpy(), arr)


def test_case_insensitive_columns(tmp_path: Path) -> None:
    path = tmp_path / "upper.csv"
    path.write_text("id,X,Y,Z\n7,3.0,2.0,1.0\n")
    out = read_positions(path)
    assert list(out.columns) == ["z", "y", "x", "id"]
    assert out.iloc[0].to_dict() == {"z": 1.0, "y": 2.0, "x": 3.0, "id": 7}
    path.write_text("z,Z,y,x\n1,1,2,3\n")
    with pytest.raises(ValueError, match="more than one column named 'z'"):
        read_positions(path)


def test_errors(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match=r"missing position columns \['z', 'y', 'x'\]"):
        read_positions(path)
    path.write_text("z,y,x\n1,2,3\n4,,6\n")
    with pytest.raises(ValueError, match=r"1 rows have empty, NaN.*\[1\]"):
        read_positions(path)
    path.write_text("z,y,x\n1,2,3\n4,oops,6\n")
    with pytest.raises(ValueError, match="non-numeric"):
        read_positions(path)
    path.write_text("")
    with pytest.raises(ValueError, match=r"p\.csv: cannot read"):
        read_positions(path)
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        read_positions(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match=r"unsupported positions file suffix '\.xlsx'"):
        write_positions(tmp_path / "p.xlsx", _table())
    bad = _table()
    bad.loc[3, "y"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_positions(tmp_path / "nan.csv", bad)
    with pytest.raises(ValueError, match="missing position columns"):
        write_positions(tmp_path / "cols.csv", pd.DataFrame({"a": [1.0]}))
    assert not (tmp_path / "nan.csv").exists() and not (tmp_path / "cols.csv").exists()


@pytest.mark.skipif(not HAS_PYARROW, reason="pyarrow")
def test_truncated_parquet(tmp_path: Path) -> None:
    path = write_positions(tmp_path / "p.parquet", _table())
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"cut\.parquet.*truncated"):
        read_positions(cut)


def test_atomic_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: pd.DataFrame, path: Path, **kwargs: object) -> None:
        Path(path).write_text("z,y")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError, match="disk full"):
        write_positions(tmp_path / "p.csv", _table())
    assert list(tmp_path.iterdir()) == []
