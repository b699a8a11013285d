"""`voxpick locate` block by block: --chunks, zarr inputs, Parquet output, resume."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer.core
import typer.main
import zarr
from typer.testing import CliRunner

from voxpick.api import locate
from voxpick.cli.app import app
from voxpick.io import read_positions, write_tiff
from voxpick.simulate import simulate_volume

locate_chunked = partial(locate, chunks=256)

runner = CliRunner()


def invoke(*args: str):
    is_group = isinstance(typer.main.get_command(app), typer.core.TyperGroup)
    return runner.invoke(app, ["locate", *args] if is_group else list(args))


@pytest.fixture(scope="module")
def sim():
    return simulate_volume((40, 52, 44), radius=3, volfrac=0.35, rng=31)


def test_chunks_option_on_a_tiff(sim, tmp_path: Path):
    src = tmp_path / "vol.tif"
    write_tiff(src, sim.volume)
    out = tmp_path / "p.parquet"
    result = invoke(str(src), "-o", str(out), "--diameter", "6", "--chunks", "24")
    assert result.exit_code == 0, result.output
    assert "blocks" in result.output
    ref = locate_chunked(sim.volume, diameter=6, chunks=24, progress=False)
    pd.testing.assert_frame_equal(read_positions(out), ref)
    assert not (tmp_path / "p.parquet.parts").exists()


def test_zarr_directory_goes_block_by_block(sim, tmp_path: Path):
    store = tmp_path / "vol.zarr"
    z = zarr.open_array(
        str(store), mode="w", shape=sim.volume.shape, chunks=(16, 16, 16), dtype="uint8"
    )
    z[...] = sim.volume
    out = tmp_path / "p.csv"
    opts = ["--diameter", "6", "--threshold", "4", "--method", "classical"]
    result = invoke(str(store), "-o", str(out), *opts)
    assert result.exit_code == 0, result.output
    found = read_positions(out)
    ref = locate_chunked(sim.volume, diameter=6, method="classical", threshold=4.0, progress=False)
    pd.testing.assert_frame_equal(found, ref)
    assert (found.snr >= 4).all()


def test_npy_with_chunks_and_scheduler_threads(sim, tmp_path: Path):
    src = tmp_path / "vol.npy"
    np.save(src, sim.volume)
    out = tmp_path / "p.csv"
    opts = ["--chunks", "16,24,24", "--scheduler", "threads"]
    result = invoke(str(src), "-o", str(out), "--diameter", "6", *opts)
    assert result.exit_code == 0, result.output
    ref = locate_chunked(sim.volume, diameter=6, chunks=(16, 24, 24), progress=False)
    pd.testing.assert_frame_equal(read_positions(out), ref)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--chunks", "0"], "--chunks '0' must be positive"),
        (["--chunks", "a,b"], "is not whole numbers"),
        (["--chunks", "16", "--scheduler", "nowhere"], "scheduler='nowhere' is not usable"),
        (["--chunks", "2", "--method", "unet"], "chunks=2 makes 11440 blocks"),
    ],
)
def test_bad_chunk_options_exit_2(sim, tmp_path: Path, extra, message):
    src = tmp_path / "vol.npy"
    np.save(src, sim.volume)
    out = tmp_path / "p.csv"
    result = invoke(str(src), "-o", str(out), "--diameter", "6", *extra)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not out.exists() and not (tmp_path / "p.csv.parts").exists()
