from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

from voxpick.io import read_ome_zarr, write_ome_zarr
from voxpick.io.source import open_volume


def _volume(dtype: type = np.float32) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 200, (9, 12, 17)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.int16, np.float64])
def test_round_trip_level0_exact(tmp_path: Path, dtype: type) -> None:
    vol = _volume(dtype)
    path = write_ome_zarr(tmp_path / "t.zarr", vol, voxel_size=(20.0, 10.012, 7.5), chunks=4)
    arr, voxel_size = read_ome_zarr(path)
    assert isinstance(arr, zarr.Array)
    assert arr.shape == (9, 12, 17)
    assert arr.dtype == vol.dtype
    assert arr.chunks == (4, 4, 4)
    np.testing.assert_array_equal(arr[:], vol)
    assert voxel_size == (20.0, 10.012, 7.5)
    assert [p.name for p in tmp_path.iterdir()] == ["t.zarr"]


def test_pyramid_levels_and_voxel_sizes(tmp_path: Path) -> None:
    vol = _volume()
    write_ome_zarr(tmp_path / "t.zarr", vol, voxel_size=(2.0, 1.5, 1.0), levels=3)
    arr1, vs1 = read_ome_zarr(tmp_path / "t.zarr", level=1)
    arr2, vs2 = read_ome_zarr(tmp_path / "t.zarr", level=2)
    assert arr1.shape == (4, 6, 8)
    assert arr2.shape == (2, 3, 4)
    assert vs1 == (4.0, 3.0, 2.0)
    assert vs2 == (8.0, 6.0, 4.0)
    np.testing.assert_allclose(arr1[0, 0, 0], vol[:2, :2, :2].mean(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"level=3 is out of range.*3 levels"):
        read_ome_zarr(tmp_path / "t.zarr", level=3)


def test_readable_by_ome_zarr_and_tiling_source(tmp_path: Path) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    vol = _volume()
    path = write_ome_zarr(tmp_path / "t.zarr", vol, voxel_size=(3.0, 2.0, 1.0), levels=2)
    location = parse_url(str(path))
    assert location is not None
    image = next(iter(Reader(location)()))
    np.testing.assert_array_equal(np.asarray(image.data[0]), vol)
    assert [a["name"] for a in image.metadata["axes"]] == ["z", "y", "x"]
    assert image.metadata["coordinateTransformations"][0][0]["scale"] == [3.0, 2.0, 1.0]
    source = open_volume(path)
    assert tuple(source.shape) == vol.shape
    np.testing.assert_array_equal(np.asarray(source.read((slice(None),) * 3)), vol)


def test_ngff04_5d_image_drops_t_and_c(tmp_path: Path) -> None:
    # an NGFF 0.4 (zarr v2) image with axes t, c, z, y, x, as other tools write
    vol = _volume()
    group = zarr.open_group(str(tmp_path / "v2.zarr"), mode="w", zarr_format=2)
    group.create_array("0", data=vol[None, None])
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [
                {"name": "t", "type": "time"},
                {"name": "c", "type": "channel"},
                {"name": "z", "type": "space", "unit": "angstrom"},
                {"name": "y", "type": "space", "unit": "angstrom"},
                {"name": "x", "type": "space", "unit": "angstrom"},
            ],
            "datasets": [
                {
                    "path": "0",
                    "coordinateTransformations": [
                        {"type": "scale", "scale": [1.0, 1.0, 5.0, 4.0, 3.0]}
                    ],
                }
            ],
            "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0, 2.0, 2.0, 2.0]}],
        }
    ]
    arr, voxel_size = read_ome_zarr(tmp_path / "v2.zarr")
    assert arr.shape == vol.shape
    np.testing.assert_array_equal(np.asarray(arr), vol)
    assert voxel_size == (10.0, 8.0, 6.0)


def test_two_channels_is_an_error(tmp_path: Path) -> None:
    group = zarr.open_group(str(tmp_path / "c.zarr"), mode="w")
    group.create_array("0", data=np.zeros((2, 3, 4, 5), np.float32))
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": [{"name": n} for n in "czyx"],
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [{"type": "scale", "scale": [1] * 4}],
                    }
                ],
            }
        ],
    }
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4, 5\).*one 3D volume at a time"):
        read_ome_zarr(tmp_path / "c.zarr")


def test_plain_zarr_array_has_no_voxel_size(tmp_path: Path) -> None:
    vol = _volume()
    zarr.create_array(str(tmp_path / "plain.zarr"), data=vol)
    arr, voxel_size = read_ome_zarr(tmp_path / "plain.zarr")
    np.testing.assert_array_equal(arr[:], vol)
    assert voxel_size is None
    with pytest.raises(ValueError, match="single level 0"):
        read_ome_zarr(tmp_path / "plain.zarr", level=1)


def test_overwrite_replaces_and_leaves_no_temporaries(tmp_path: Path) -> None:
    write_ome_zarr(tmp_path / "t.zarr", _volume(), voxel_size=1.0, levels=2)
    small = np.ones((2, 3, 4), np.uint8)
    write_ome_zarr(tmp_path / "t.zarr", small, voxel_size=(3.0, 2.0, 1.0))
    arr, voxel_size = read_ome_zarr(tmp_path / "t.zarr")
    np.testing.assert_array_equal(arr[:], small)
    assert voxel_size == (3.0, 2.0, 1.0)
    assert [p.name for p in tmp_path.iterdir()] == ["t.zarr"]


def test_write_errors_leave_nothing(tmp_path: Path) -> None:
    vol = _volume()
    with pytest.raises(ValueError, match=r"levels=5 is too many.*levels <= 4"):
        write_ome_zarr(tmp_path / "t.zarr", vol, voxel_size=1.0, levels=5)
    with pytest.raises(ValueError, match="levels=0"):
        write_ome_zarr(tmp_path / "t.zarr", vol, voxel_size=1.0, levels=0)
    with pytest.raises(ValueError, match="3D"):
        write_ome_zarr(tmp_path / "t.zarr", vol[0], voxel_size=1.0)
    bad = vol.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_ome_zarr(tmp_path / "t.zarr", bad, voxel_size=1.0)
    with pytest.raises(ValueError, match="voxel_size"):
        write_ome_zarr(tmp_path / "t.zarr", vol, voxel_size=(1.0, -1.0, 1.0))
    assert list(tmp_path.iterdir()) == []


def test_missing_and_not_zarr(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.zarr"):
        read_ome_zarr(tmp_path / "nope.zarr")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        read_ome_zarr(tmp_path / "empty")
