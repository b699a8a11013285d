from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pytest

from voxpick.io import read_mrc, read_volume, write_mrc
from voxpick.io.volume import SUPPORTED_SUFFIXES


def _volume(dtype: type = np.float32) -> np.ndarray:
    # non-cubic, so a swapped axis changes the shape
    rng = np.random.default_rng(0)
    return rng.integers(-100, 100, (5, 7, 9)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16, np.uint8, np.uint16])
def test_round_trip_keeps_dtype_and_anisotropic_voxel_size(tmp_path: Path, dtype: type) -> None:
    vol = _volume(dtype) if np.dtype(dtype).kind != "u" else _volume(dtype) % 50
    path = write_mrc(tmp_path / "t.mrc", vol, voxel_size=(12.5, 10.012, 7.84))
    out, voxel_size = read_mrc(path)
    assert out.dtype == vol.dtype
    assert out.shape == (5, 7, 9)
    np.testing.assert_array_equal(out, vol)
    assert voxel_size == (12.5, 10.012, 7.84)
    assert [p.name for p in tmp_path.iterdir()] == ["t.mrc"]


def test_header_axes_are_x_y_z(tmp_path: Path) -> None:
    vol = _volume()
    write_mrc(tmp_path / "t.mrc", vol, voxel_size=(3.0, 2.0, 1.0))
    with mrcfile.open(tmp_path / "t.mrc") as mrc:
        assert (int(mrc.header.nx), int(mrc.header.ny), int(mrc.header.nz)) == (9, 7, 5)
        assert (mrc.voxel_size.x, mrc.voxel_size.y, mrc.voxel_size.z) == (1.0, 2.0, 3.0)
        assert mrc.data[1, 2, 3] == vol[1, 2, 3]


def test_foreign_file_with_swapped_axis_mapping(tmp_path: Path) -> None:
    # stored sections along Y (maps=2), rows along Z (mapr=3): data[s, r, c] = volume[r, s, c]
    vol = _volume()
    stored = np.ascontiguousarray(vol.transpose(1, 0, 2))
    with mrcfile.new(tmp_path / "f.mrc") as mrc:
        mrc.set_data(stored)
        mrc.header.mapc, mrc.header.mapr, mrc.header.maps = 1, 3, 2
        mrc.header.cella = (9 * 1.0, 7 * 2.0, 5 * 3.0)  # x, y, z lengths
        mrc.header.mx, mrc.header.my, mrc.header.mz = 9, 7, 5
    out, voxel_size = read_mrc(tmp_path / "f.mrc")
    np.testing.assert_array_equal(out, vol)
    assert voxel_size == (3.0, 2.0, 1.0)


def test_float64_written_as_float32_and_scalar_voxel_size(tmp_path: Path) -> None:
    vol = _volume(np.float64) / 3
    write_mrc(tmp_path / "t.rec", vol, voxel_size=10.0)
    out, voxel_size = read_mrc(tmp_path / "t.rec")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, vol.astype(np.float32))
    assert voxel_size == (10.0, 10.0, 10.0)


def test_mmap_is_read_only_memmap(tmp_path: Path) -> None:
    vol = _volume()
    write_mrc(tmp_path / "t.mrc", vol, voxel_size=4.0)
    out, voxel_size = read_mrc(tmp_path / "t.mrc", mmap=True)
    assert isinstance(out, np.memmap)
    assert not out.flags.writeable
    np.testing.assert_array_equal(out, vol)
    assert voxel_size == (4.0, 4.0, 4.0)


def test_no_cell_size_gives_none(tmp_path: Path) -> None:
    with mrcfile.new(tmp_path / "a.mrc") as mrc:
        mrc.set_data(_volume())
    out, voxel_size = read_mrc(tmp_path / "a.mrc")
    assert voxel_size is None
    assert out.shape == (5, 7, 9)


@pytest.mark.parametrize("mmap", [False, True])
@pytest.mark.parametrize("keep", [500, -7])
def test_truncated_file_is_oserror(tmp_path: Path, mmap: bool, keep: int) -> None:
    write_mrc(tmp_path / "t.mrc", _volume(), voxel_size=1.0)
    data = (tmp_path / "t.mrc").read_bytes()
    (tmp_path / "cut.mrc").write_bytes(data[:keep])
    with pytest.raises(OSError, match=r"cut\.mrc.*(truncated|re-download)"):
        read_mrc(tmp_path / "cut.mrc", mmap=mmap)


def test_not_mrc_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "x.mrc").write_bytes(b"hello" * 300)
    with pytest.raises(OSError, match=r"x\.mrc"):
        read_mrc(tmp_path / "x.mrc")
    with pytest.raises(FileNotFoundError, match=r"nope\.mrc"):
        read_mrc(tmp_path / "nope.mrc")


def test_write_errors_leave_no_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="3D"):
        write_mrc(tmp_path / "a.mrc", np.zeros((4, 4), np.float32), voxel_size=1.0)
    vol = _volume()
    vol[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_mrc(tmp_path / "a.mrc", vol, voxel_size=1.0)
    with pytest.raises(TypeError, match=r"int32.*astype"):
        write_mrc(tmp_path / "a.mrc", _volume(np.int32), voxel_size=1.0)
    with pytest.raises(ValueError, match="voxel_size"):
        write_mrc(tmp_path / "a.mrc", _volume(), voxel_size=(1.0, 0.0, 1.0))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file(tmp_path: Path) -> None:
    vol = _volume()
    write_mrc(tmp_path / "a.mrc", vol, voxel_size=2.0)
    with pytest.raises(TypeError):
        write_mrc(tmp_path / "a.mrc", _volume(np.int64), voxel_size=1.0)
    out, voxel_size = read_mrc(tmp_path / "a.mrc")
    np.testing.assert_array_equal(out, vol)
    assert voxel_size == (2.0, 2.0, 2.0)


def test_2d_file_is_rejected(tmp_path: Path) -> None:
    with mrcfile.new(tmp_path / "img.mrc") as mrc:
        mrc.set_data(np.zeros((6, 8), np.float32))
    with pytest.raises(ValueError, match=r"2D.*3D volume"):
        read_mrc(tmp_path / "img.mrc")


@pytest.mark.parametrize("suffix", [".mrc", ".rec", ".map"])
def test_read_volume_dispatches_mrc(tmp_path: Path, suffix: str) -> None:
    assert suffix in SUPPORTED_SUFFIXES
    vol = _volume()
    write_mrc(tmp_path / f"t{suffix}", vol, voxel_size=1.0)
    np.testing.assert_array_equal(read_volume(tmp_path / f"t{suffix}"), vol)


def test_read_volume_rejects_mrcs_stack(tmp_path: Path) -> None:
    (tmp_path / "s.mrcs").write_bytes(b"")
    with pytest.raises(ValueError, match=r"unsupported volume suffix '\.mrcs'"):
        read_volume(tmp_path / "s.mrcs")


def test_imod_unsigned_bytes_are_uint8(tmp_path: Path) -> None:
    vol = (_volume() % 50 + 180).astype(np.uint8)
    with mrcfile.new(tmp_path / "imod.mrc") as mrc:
        mrc.set_data(vol.view(np.int8))
        extra2 = bytearray(bytes(mrc.header.extra2))
        extra2[40:48] = np.array([1146047817, 0], dtype="<i4").tobytes()  # stamp, unsigned
        mrc.header.extra2 = bytes(extra2)
    out, _ = read_mrc(tmp_path / "imod.mrc")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, vol)
