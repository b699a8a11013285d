"""voxpick.batch: every frame of a (t, z, y, x) series, any input form, resumable."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr

import voxpick
import voxpick.series as series_module
from voxpick.detect import DETECTION_COLUMNS
from voxpick.io import read_positions, write_tiff
from voxpick.series import BATCH_COLUMNS, batch
from voxpick.simulate import simulate_brownian

OPTS = {"diameter": 8, "method": "classical"}


@pytest.fixture(scope="module")
def sim():
    return simulate_brownian(32, n_frames=4, radius=4, volfrac=0.3, diffusion=0.5, rng=5)


@pytest.fixture(scope="module")
def found(sim):
    return batch(sim.frames, **OPTS)


def _rows(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(["frame", "z", "y", "x"]).reset_index(drop=True)


def test_every_frame_as_locate_finds_it(sim, found):
    assert tuple(found.columns) == BATCH_COLUMNS == (*DETECTION_COLUMNS, "frame")
    assert found["frame"].dtype == np.int64
    assert list(found["frame"]) == sorted(found["frame"])
    for t in range(4):
        alone = voxpick.locate(sim.frames[t], **OPTS)
        mine = found[found["frame"] == t].drop(columns="frame").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone, check_like=False)
    assert found.attrs["shape"] == (4, 32, 32, 32) and found.attrs["n_frames"] == 4
    assert len(found.attrs["frames"]) == 4 and "threshold" in found.attrs["frames"][0]


def test_global_parameters_are_estimated_per_frame(sim):
    """A frame twice as bright and noisier gets its own noise estimate and threshold."""
    frames = sim.frames[:2].astype(np.float32)
    rng = np.random.default_rng(0)
    frames[1] = 2 * frames[1] + rng.normal(0, 20, frames[1].shape)
    got = batch(frames, **OPTS)
    noise = [f["noise"] for f in got.attrs["frames"]]
    assert noise[1] > 2 * noise[0]
    # the second frame alone gives the same detections: no parameter leaks between frames
    alone = voxpick.locate(frames[1], **OPTS)
    assert len(got[got["frame"] == 1]) == len(alone)


def test_signature_mirrors_locate():
    """batch takes every option of locate, with the same defaults (one place of truth)."""
    mine = inspect.signature(batch).parameters
    theirs = inspect.signature(voxpick.locate).parameters
    assert list(mine)[1:] == list(theirs)[1:]
    for name in list(theirs)[1:]:
        assert mine[name].kind == inspect.Parameter.KEYWORD_ONLY, name
        assert mine[name].default == theirs[name].default, name


def test_empty_frames_keep_the_schema():
    frames = np.full((2, 24, 24, 24), 10, np.uint8)
    got = batch(frames, **OPTS)
    assert len(got) == 0 and tuple(got.columns) == BATCH_COLUMNS
    assert got["frame"].dtype == np.int64


def test_input_forms_give_one_result(sim, found, tmp_path: Path):
    stack = tmp_path / "hyper.tif"
    tifffile.imwrite(stack, sim.frames, imagej=True, metadata={"axes": "TZYX"})
    packed = tmp_path / "packed.tif"
    tifffile.imwrite(packed, sim.frames, compression="zlib")
    npy = tmp_path / "series.npy"
    np.save(npy, sim.frames)
    store = tmp_path / "series.zarr"
    zarr.save_array(str(store), sim.frames[:, None])  # (t, c=1, z, y, x)
    for t in range(4):  # t2 < t10 in natural order, not in string order
        write_tiff(tmp_path / "files" / f"t{[2, 10, 11, 100][t]}.tif", sim.frames[t])
    inputs = {
        "hyperstack": stack, "compressed tiff": packed, "npy": npy, "zarr store": store,
        "glob": str(tmp_path / "files" / "t*.tif"), "list": list(sim.frames),
        "dask": da.from_array(sim.frames, chunks=(1, 16, 32, 32)),
        "zarr array": zarr.open_array(str(store), mode="r"),
    }  # fmt: skip
    for name, frames in inputs.items():
        got = batch(frames, **OPTS)
        pd.testing.assert_frame_equal(_rows(got), _rows(found), obj=name)


def test_resume_after_a_crash(sim, found, tmp_path: Path, monkeypatch):
    out = tmp_path / "features.parquet"
    parts = tmp_path / "features.parquet.parts"
    calls: list[int] = []
    real = series_module.locate

    def crash_on_third(volume, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed while locating frame 2
        return real(volume, **kw)

    monkeypatch.setattr(series_module, "locate", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        batch(sim.frames, **OPTS, out=out)
    assert not out.exists()
    assert len(list(parts.glob("frame*.parquet"))) == 2

    calls.clear()
    monkeypatch.setattr(
        series_module, "locate", lambda v, **kw: (calls.append(1), real(v, **kw))[1]
    )
    got = batch(sim.frames, **OPTS, out=out)
    assert len(calls) == 2  # frames 2 and 3 only
    assert not parts.exists()
    pd.testing.assert_frame_equal(_rows(got), _rows(found))
    back = read_positions(out)
    assert len(back) == len(found) and back.attrs["n_frames"] == 4
    assert [f["threshold"] for f in back.attrs["frames"]] == [
        f["threshold"] for f in found.attrs["frames"]
    ]


def test_a_changed_frame_is_located_again(sim, tmp_path: Path, monkeypatch):
    out = tmp_path / "f.csv"
    real = series_module.locate
    calls: list[int] = []

    def stop_at_last(volume, **kw):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(volume, **kw)

    monkeypatch.setattr(series_module, "locate", stop_at_last)
    with pytest.raises(KeyboardInterrupt):
        batch(sim.frames, **OPTS, out=out)
    edited = sim.frames.copy()
    edited[1, :8] = 0
    calls.clear()
    monkeypatch.setattr(
        series_module, "locate", lambda v, **kw: (calls.append(1), real(v, **kw))[1]
    )
    batch(edited, **OPTS, out=out)
    assert len(calls) == 2  # frame 1 (edited) and frame 3 (never finished)


def test_other_options_refuse_old_parts(sim, tmp_path: Path, monkeypatch):
    out = tmp_path / "f.csv"
    real = series_module.locate

    def crash(volume, **kw):
        if crash.n == 1:
            raise KeyboardInterrupt
        crash.n += 1
        return real(volume, **kw)

    crash.n = 0
    monkeypatch.setattr(series_module, "locate", crash)
    with pytest.raises(KeyboardInterrupt):
        batch(sim.frames, **OPTS, out=out)
    monkeypatch.setattr(series_module, "locate", real)
    with pytest.raises(ValueError, match=r"different run.*options"):
        batch(sim.frames, diameter=7, method="classical", out=out)
    assert not out.exists()


def test_progress_bar_counts_frames(sim, capsys):
    batch(sim.frames[:2], **OPTS, progress=True)
    assert "frames" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("frames", "error", "match"),
    [
        (np.zeros((16, 16, 16), np.uint8), ValueError, r"\(3D\).*voxpick.locate"),
        (np.zeros((2, 3, 16, 16, 16), np.uint8), ValueError, r"one channel.*frames\[:, 0\]"),
        (np.zeros((2, 16, 16, 16), bool), TypeError, "dtype bool"),
        ([np.zeros((16, 16, 16)), np.zeros((16, 16, 18))], ValueError, "frame 1 .*expected"),
        ("no/such/t*.tif", FileNotFoundError, "matches no file"),
        ("no_such.tif", FileNotFoundError, "no such time-series file"),
        (42, TypeError, "not a time series"),
    ],
)
def test_bad_series_is_a_clear_error_and_writes_nothing(frames, error, match, tmp_path: Path):
    out = tmp_path / "f.csv"
    with pytest.raises(error, match=match):
        batch(frames, **OPTS, out=out)
    assert os.listdir(tmp_path) == []
    assert not out.exists() and not (tmp_path / "f.csv.parts").exists()


def test_bad_options_leave_nothing_behind(sim, tmp_path: Path):
    out = tmp_path / "f.csv"
    with pytest.raises(ValueError, match="method"):
        batch(sim.frames, diameter=8, method="nope", out=out)
    with pytest.raises(TypeError, match="scales"):
        batch(sim.frames, diameter=8, method="classical", scales="tta", out=out)
    with pytest.raises(ValueError, match="suffix"):
        batch(sim.frames, **OPTS, out=tmp_path / "f.txt")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == []


def test_multichannel_hyperstack_is_refused(sim, tmp_path: Path):
    path = tmp_path / "two.tif"
    both = np.stack([sim.frames[:2], sim.frames[:2]], axis=2)  # t, z, c, y, x
    tifffile.imwrite(path, both, imagej=True, metadata={"axes": "TZCYX"})
    with pytest.raises(ValueError, match="2 channels"):
        batch(path, **OPTS)


def test_voxel_size_from_the_hyperstack(sim, found, tmp_path: Path):
    path = tmp_path / "cal.tif"
    tifffile.imwrite(
        path, sim.frames[:2], imagej=True, resolution=(10.0, 10.0),
        metadata={"axes": "TZYX", "spacing": 0.1, "unit": "um"},
    )  # fmt: skip
    got = batch(path, diameter=0.8, method="classical")
    assert got.attrs["voxel_size"] == pytest.approx((0.1, 0.1, 0.1))
    assert "TIFF" in got.attrs["voxel_size_source"]
    pd.testing.assert_frame_equal(_rows(got), _rows(found[found["frame"] < 2]))


def test_locate_points_a_series_to_batch(sim, tmp_path: Path):
    stack = tmp_path / "hyper.tif"
    tifffile.imwrite(stack, sim.frames[:2], imagej=True, metadata={"axes": "TZYX"})
    for series in (sim.frames[:2], da.from_array(sim.frames[:2]), stack):
        with pytest.raises(ValueError, match=r"time series.*voxpick\.batch"):
            voxpick.locate(series, diameter=8, method="classical")


def test_hdf5_series(sim, found, tmp_path: Path):
    import h5py

    one = tmp_path / "one.h5"
    with h5py.File(one, "w") as f:
        f["frames"] = sim.frames
    pd.testing.assert_frame_equal(_rows(batch(one, **OPTS)), _rows(found))
    two = tmp_path / "two.h5"
    with h5py.File(two, "w") as f:
        f["frames"] = sim.frames
        f["labels"] = sim.frames
    with pytest.raises(ValueError, match=r"2 datasets .*h5py.File\(path\)\['frames'\]"):
        batch(two, **OPTS)
    with h5py.File(two, "r") as f:  # the dataset itself chooses among several
        pd.testing.assert_frame_equal(_rows(batch(f["labels"], **OPTS)), _rows(found))
