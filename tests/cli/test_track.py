"""`voxpick track` end to end, through the real application object."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import tifffile
from typer.testing import CliRunner

from voxpick.cli.app import app
from voxpick.io import read_positions, write_tiff
from voxpick.metrics import link_accuracy
from voxpick.simulate import simulate_brownian

pytest.importorskip("trackpy")

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["track", *map(str, args)])


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def sim():
    return simulate_brownian(32, n_frames=5, radius=4, volfrac=0.3, diffusion=0.5, rng=9)


@pytest.fixture(scope="module")
def stack(sim, tmp_path_factory) -> Path:
    """The series as an ImageJ hyperstack calibrated at 0.1 um per voxel."""
    path = tmp_path_factory.mktemp("series") / "series.tif"
    tifffile.imwrite(
        path, sim.frames, imagej=True, resolution=(10.0, 10.0),
        metadata={"axes": "TZYX", "spacing": 0.1, "unit": "um"},
    )  # fmt: skip
    return path


def test_hyperstack_to_tracks_in_micrometres(sim, stack, tmp_path: Path):
    out = tmp_path / "tracks.csv"
    result = invoke(stack, "-o", out, "--diameter", "0.8um", "--method", "classical")
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "voxel size 0.1 um" in text and "diameter 0.8 um = 8 voxels" in text
    assert "um²/frame" in text
    tracks = read_positions(out)
    assert {"frame", "particle", "z", "y", "x", "score"} <= set(tracks.columns)
    assert tracks.attrs["voxel_size"] == pytest.approx([0.1] * 3)
    assert tracks.attrs["search_range"] == pytest.approx([4.0] * 3)  # half a diameter, voxels
    score = link_accuracy(sim.truth, tracks, max_distance=4)
    assert score.accuracy >= 0.99 and score.n_detected_links > 100
    features = read_positions(tmp_path / "tracks.features.csv")
    assert "particle" not in features.columns and len(features) == len(tracks)
    assert not (tmp_path / "tracks.features.csv.parts").exists()


def test_relink_the_features_with_another_range(stack, tmp_path: Path):
    out = tmp_path / "tracks.parquet"
    assert invoke(stack, "-o", out, "--diameter", "0.8um", "--method", "classical").exit_code == 0
    again = tmp_path / "again.csv"
    result = invoke(tmp_path / "tracks.features.parquet", "-o", again, "--search-range", "0.2")
    assert result.exit_code == 0, result.output
    assert "the table's attrs" in flat(result.output)
    assert read_positions(again).attrs["search_range"] == pytest.approx([2.0] * 3)
    first = read_positions(out)
    assert len(read_positions(again)) == len(first)


def test_files_of_a_glob_in_natural_order(sim, tmp_path: Path):
    folder = tmp_path / "run"
    for t in range(5):  # t0, t5, t10, ...: string order would put t10 before t5
        write_tiff(folder / f"t{5 * t}.tif", sim.frames[t])
    quoted = invoke(folder / "t*.tif", "-o", tmp_path / "a.csv", "--diameter", "8",
                    "--method", "classical")  # fmt: skip
    assert quoted.exit_code == 0, quoted.output
    shell = sorted(folder.glob("t*.tif"))  # what a shell passes
    expanded = invoke(*shell, "-o", tmp_path / "b.csv", "--diameter", "8", "--method", "classical")
    assert expanded.exit_code == 0, expanded.output
    a, b = read_positions(tmp_path / "a.csv"), read_positions(tmp_path / "b.csv")
    pd.testing.assert_frame_equal(a, b)
    assert link_accuracy(sim.truth, a, max_distance=4).accuracy >= 0.99


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "{tmp}/t.txt", "--diameter", "8px"], "must end in .csv or .parquet"),
        (["-o", "{tmp}/t.csv"], "--diameter is needed"),
        (["-o", "{tmp}/t.csv", "--diameter", "8px", "--search-range", "x"], "--search-range"),
        (["-o", "{tmp}/t.csv", "--diameter", "8px", "--search-range", "2furlong"], "unknown unit"),
        (
            ["-o", "{tmp}/t.csv", "--diameter", "8px", "--memory", "-1"],
            "greater than or equal to 0",
        ),
        (["-o", "{tmp}/t.csv", "--diameter", "80px"], "fits inside the volume"),
    ],
)
def test_bad_options_exit_2_without_output(stack, tmp_path: Path, args, message):
    result = invoke(stack, *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)
    assert not (tmp_path / "t.csv").exists() and not (tmp_path / "t.txt").exists()
    assert not (tmp_path / "t.features.csv").exists()


def test_bad_inputs_exit_2_without_output(sim, tmp_path: Path):
    volume = tmp_path / "volume.tif"
    write_tiff(volume, sim.frames[0])
    out = tmp_path / "t.csv"
    cases = [
        ([volume], r"\(3D\): expected a time series"),
        ([tmp_path / "nothing.tif"], "no such time-series file"),
        ([tmp_path / "none" / "t*.tif"], "matches no file"),
        ([volume, tmp_path / "gone.tif"], "no such volume file"),
    ]
    for inputs, message in cases:
        result = invoke(*inputs, "-o", out, "--diameter", "8")
        assert result.exit_code == 2, result.output
        assert pd.Series([flat(result.output)]).str.contains(message).all(), result.output
        assert not out.exists() and not (tmp_path / "t.features.csv").exists()


def test_too_large_search_range_keeps_the_features_for_relinking(stack, tmp_path: Path):
    out = tmp_path / "t.csv"
    result = invoke(stack, "-o", out, "--diameter", "8px", "--method", "classical",
                    "--search-range", "30px")  # fmt: skip
    assert result.exit_code == 2
    assert "too large" in flat(result.output) and not out.exists()
    assert (tmp_path / "t.features.csv").exists()
    relinked = invoke(tmp_path / "t.features.csv", "-o", out, "--search-range", "4px")
    assert relinked.exit_code == 0, relinked.output


def test_locate_points_a_time_series_to_track(stack, tmp_path: Path):
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["locate", str(stack), "-o", str(out), "--diameter", "8px"])
    assert result.exit_code == 2
    assert "voxpick track" in flat(result.output)
    assert not out.exists()


def test_track_is_listed():
    result = runner.invoke(app, ["--help"])
    assert "track" in result.output


def test_hdf5_series_with_a_key(sim, tmp_path: Path):
    import h5py

    path = tmp_path / "run.h5"
    with h5py.File(path, "w") as f:
        f["raw/frames"] = sim.frames
        f["raw/frames"].attrs["element_size_um"] = (0.1, 0.1, 0.1)
        f["mask"] = sim.frames[:, :4]  # a second dataset: --key is needed
    out = tmp_path / "tracks.csv"
    result = invoke(path, "-o", out, "--diameter", "0.8um", "--method", "classical")
    assert result.exit_code == 2 and not out.exists()
    assert "--key" in flat(result.output) and "'raw/frames'" in flat(result.output)
    result = invoke(
        path, "-o", out, "--diameter", "0.8um", "--method", "classical", "--key", "raw/frames"
    )
    assert result.exit_code == 0, result.output
    assert "voxel size 0.1 um" in flat(result.output)  # the dataset's calibration
    tracks = read_positions(out)
    assert link_accuracy(sim.truth, tracks, max_distance=4).accuracy >= 0.99
    # --key on a TIFF is refused
    tif = tmp_path / "series.tif"
    tifffile.imwrite(tif, sim.frames, imagej=True, metadata={"axes": "TZYX"})
    result = invoke(tif, "-o", tmp_path / "t2.csv", "--diameter", "8", "--key", "x")
    assert result.exit_code == 2 and "HDF5" in flat(result.output)
