from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from voxpick.io import read_tiff, read_tiff_with_voxel_size, read_volume, write_tiff
from voxpick.io.atomic import atomic_path

REAL = Path(__file__).parents[2].parent / "shared/data/colloids-real/abraham.tiff"


def _volume(dtype: type = np.uint8) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 200, (7, 16, 20)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64, np.int32])
def test_round_trip_with_voxel_size(tmp_path: Path, dtype: type) -> None:
    vol = _volume(dtype)
    path = write_tiff(tmp_path / "v.tif", vol, voxel_size=(0.7, 1 / 3, 0.3))
    out, voxel_size = read_tiff_with_voxel_size(path)
    assert out.dtype == vol.dtype
    np.testing.assert_array_equal(out, vol)
    assert voxel_size == (0.7, 1 / 3, 0.3)  # exact
    assert [p.name for p in tmp_path.iterdir()] == ["v.tif"]


@pytest.mark.parametrize("shape", [(4, 5, 3), (3, 6, 4), (1, 1, 1)])
def test_small_last_axis_is_not_rgb(tmp_path: Path, shape: tuple[int, int, int]) -> None:
    vol = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    write_tiff(tmp_path / "v.tif", vol)
    np.testing.assert_array_equal(read_tiff(tmp_path / "v.tif"), vol)


def test_imagej_calibration_and_no_voxel_size(tmp_path: Path) -> None:
    vol = _volume()
    write_tiff(tmp_path / "a.tif", vol, voxel_size=0.5)
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        assert tif.is_imagej
        assert tif.imagej_metadata is not None
        assert tif.imagej_metadata["spacing"] == 0.5
        assert tif.series[0].axes == "ZYX"
    write_tiff(tmp_path / "b.tif", vol)
    out, voxel_size = read_tiff_with_voxel_size(tmp_path / "b.tif")
    np.testing.assert_array_equal(out, vol)
    assert voxel_size is None


def test_foreign_imagej_calibration(tmp_path: Path) -> None:
    # as written by Fiji: spacing + resolution, no voxpick key
    vol = _volume()
    tifffile.imwrite(
        tmp_path / "fiji.tif",
        vol,
        imagej=True,
        resolution=(4.0, 2.0),
        metadata={"spacing": 1.5, "unit": "um", "axes": "ZYX"},
    )
    _, voxel_size = read_tiff_with_voxel_size(tmp_path / "fiji.tif")
    assert voxel_size == (1.5, 0.5, 0.25)


def test_wrong_dimensionality(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "2d.tif", np.zeros((8, 9), np.uint8))
    with pytest.raises(ValueError, match=r"2d\.tif holds 2D data of shape \(8, 9\).*3D"):
        read_tiff(tmp_path / "2d.tif")
    tifffile.imwrite(
        tmp_path / "4d.tif",
        np.zeros((2, 3, 8, 9), np.uint8),
        imagej=True,
        metadata={"axes": "TZYX"},
    )
    with pytest.raises(ValueError, match=r"4D data of shape \(2, 3, 8, 9\).*one 3D volume"):
        read_tiff(tmp_path / "4d.tif")
    # singleton extra axes are dropped
    tifffile.imwrite(tmp_path / "1c.tif", np.ones((1, 3, 8, 9), np.uint8), photometric="minisblack")
    assert read_tiff(tmp_path / "1c.tif").shape == (3, 8, 9)
    with pytest.raises(ValueError, match="3D"):
        write_tiff(tmp_path / "x.tif", np.zeros((8, 9), np.uint8))
    assert not (tmp_path / "x.tif").exists()


@pytest.mark.parametrize("imagej", [True, False])
@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.5, 0.95])
def test_truncated_tiff(tmp_path: Path, imagej: bool, fraction: float) -> None:
    vol = _volume() + 1  # no zero voxels, so zero-filled reads would be visible
    src = tmp_path / "full.tif"
    tifffile.imwrite(src, vol, imagej=imagej)
    data = src.read_bytes()
    bad = tmp_path / "cut.tif"
    bad.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(OSError, match=r"cut\.tif"):
        read_tiff(bad)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.tif"):
        read_tiff(tmp_path / "nope.tif")


def test_atomic_write_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(path: Path, *args: object, **kwargs: object) -> None:
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", boom)
    with pytest.raises(OSError, match="disk full"):
        write_tiff(tmp_path / "v.tif", _volume())
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_cleans_up(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "f.bin") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_read_volume_dispatch(tmp_path: Path) -> None:
    vol = _volume()
    write_tiff(tmp_path / "v.tiff", vol)
    np.save(tmp_path / "v.npy", vol)
    vol.tofile(tmp_path / "v.raw")
    with h5py.File(tmp_path / "v.h5", "w") as f:
        f["data"] = vol
    with h5py.File(tmp_path / "two.hdf5", "w") as f:
        f["a"] = vol
        f["b"] = vol
    for name in ["v.tiff", "v.npy", "v.h5"]:
        np.testing.assert_array_equal(read_volume(tmp_path / name), vol)
    np.testing.assert_array_equal(read_volume(tmp_path / "v.raw", shape=vol.shape), vol)
    np.testing.assert_array_equal(read_volume(tmp_path / "two.hdf5", key="b"), vol)
    with pytest.raises(ValueError, match=r"2 datasets.*key="):
        read_volume(tmp_path / "two.hdf5")
    with pytest.raises(ValueError, match="no dataset 'c'"):
        read_volume(tmp_path / "two.hdf5", key="c")
    with pytest.raises(ValueError, match="shape= is required"):
        read_volume(tmp_path / "v.raw")
    with pytest.raises(ValueError, match="bytes but shape"):
        read_volume(tmp_path / "v.raw", shape=(7, 16, 21))
    (tmp_path / "v.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"unsupported volume suffix '\.png'"):
        read_volume(tmp_path / "v.png")
    (tmp_path / "cut.npy").write_bytes((tmp_path / "v.npy").read_bytes()[:200])
    with pytest.raises(OSError, match=r"cut\.npy"):
        read_volume(tmp_path / "cut.npy")
    (tmp_path / "cut.h5").write_bytes((tmp_path / "v.h5").read_bytes()[:500])
    with pytest.raises(OSError, match=r"cut\.h5.*truncated"):
        read_volume(tmp_path / "cut.h5")


@pytest.mark.data
def test_real_colloid_stack() -> None:
    if not REAL.is_file():
        pytest.skip(f"real data not present at {REAL}")
    vol, _ = read_tiff_with_voxel_size(REAL)
    assert vol.shape == (46, 128, 128)
    assert vol.dtype == np.uint8
    np.testing.assert_array_equal(read_volume(REAL), vol)
