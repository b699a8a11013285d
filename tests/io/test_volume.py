"""Reading volumes by path: a missing path is reported as missing, whatever its suffix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from voxpick.api import locate
from voxpick.cli.app import app
from voxpick.io import read_volume


@pytest.mark.parametrize("name", ["foo.zarr", "foo.tif", "foo.mrc", "foo", "foo.xyz"])
def test_a_missing_path_says_it_does_not_exist(tmp_path: Path, name: str) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist") as err:
        read_volume(tmp_path / name)
    assert "unsupported" not in str(err.value) and name in str(err.value)


def test_an_existing_zarr_store_points_at_the_block_reader(tmp_path: Path) -> None:
    import zarr

    zarr.open_array(str(tmp_path / "v.zarr"), mode="w", shape=(8, 8, 8), dtype="u1")
    with pytest.raises(ValueError, match=r"unsupported volume suffix '\.zarr'.*voxpick\.locate"):
        read_volume(tmp_path / "v.zarr")


def test_locate_of_a_missing_zarr_says_it_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"foo\.zarr: no such volume file"):
        locate(tmp_path / "foo.zarr", diameter=6)


@pytest.mark.parametrize(
    "args",
    [
        ["locate", "foo.zarr", "--diameter", "6", "-o", "p.csv"],
        ["locate", "foo.zarr", "--diameter", "6", "-o", "p.csv", "--chunks", "32"],
        ["pick", "foo.zarr", "-o", "p.csv", "--no-progress"],
    ],
)
def test_the_cli_says_a_missing_zarr_does_not_exist(tmp_path, monkeypatch, args) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "foo.zarr: no such volume file" in text and "unsupported" not in text
    assert "Traceback" not in text and not (tmp_path / "p.csv").exists()


def test_an_existing_volume_still_reads(tmp_path: Path) -> None:
    vol = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    np.save(tmp_path / "v.npy", vol)
    np.testing.assert_array_equal(read_volume(tmp_path / "v.npy"), vol)
