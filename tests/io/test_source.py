from __future__ import annotations

import pickle
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

from voxpick.io.source import MemmapSource, is_zarr_path, open_volume

BOX = (slice(2, 9), slice(0, 5), slice(3, 11))


@pytest.fixture(scope="module")
def vol() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, size=(13, 17, 19), dtype=np.uint8)


def _zarr_array(path: Path, data: np.ndarray, **kw):
    z = zarr.open_array(
        str(path), mode="w", shape=data.shape, chunks=(4, 8, 8), dtype=data.dtype, **kw
    )
    z[...] = data
    return z


def test_arrays_of_every_kind_read_the_same_box(vol, tmp_path):
    z = _zarr_array(tmp_path / "v.zarr", vol)
    for obj in (vol, da.from_array(vol, chunks=5), z):
        src = open_volume(obj)
        assert src.shape == vol.shape and src.dtype == vol.dtype
        np.testing.assert_array_equal(src.read(BOX), vol[BOX])
    assert open_volume(da.from_array(vol)).is_dask and not open_volume(z).is_dask


def test_paths_zarr_tiff_npy_are_read_lazily(vol, tmp_path):
    _zarr_array(tmp_path / "v.zarr", vol)
    tifffile.imwrite(tmp_path / "v.tif", vol)
    np.save(tmp_path / "v.npy", vol)
    np.save(tmp_path / "f.npy", np.asfortranarray(vol))
    for name in ("v.zarr", "v.tif", "v.npy", "f.npy"):
        src = open_volume(tmp_path / name)
        assert src.shape == vol.shape, name
        np.testing.assert_array_equal(src.read(BOX), vol[BOX])
        # picklable without the voxels (what a distributed worker receives)
        back = pickle.loads(pickle.dumps(src))
        np.testing.assert_array_equal(back.read(BOX), vol[BOX])
    assert isinstance(open_volume(tmp_path / "v.tif"), MemmapSource)
    assert len(pickle.dumps(open_volume(tmp_path / "v.npy"))) < 2000
    assert is_zarr_path(tmp_path / "v.zarr") and not is_zarr_path(tmp_path / "v.npy")


def test_ome_zarr_takes_level_0_and_drops_singleton_axes(vol, tmp_path):
    root = zarr.open_group(str(tmp_path / "img.ome.zarr"), mode="w")
    full = vol[None, None]  # (t, c, z, y, x)
    a0 = root.create_array("s0", shape=full.shape, chunks=(1, 1, 4, 8, 8), dtype=vol.dtype)
    a0[...] = full
    a1 = root.create_array("s1", shape=(1, 1, 7, 9, 10), dtype=vol.dtype)
    a1[...] = full[:, :, ::2, ::2, ::2]
    axes = [{"name": n} for n in "tczyx"]
    root.attrs["multiscales"] = [{"axes": axes, "datasets": [{"path": "s0"}, {"path": "s1"}]}]
    src = open_volume(tmp_path / "img.ome.zarr")
    assert src.shape == vol.shape and "level 's0'" in src.description
    np.testing.assert_array_equal(src.read(BOX), vol[BOX])
    # OME-NGFF 0.5 keeps the metadata under "ome"
    root.attrs["ome"] = {"multiscales": root.attrs["multiscales"]}
    del root.attrs["multiscales"]
    np.testing.assert_array_equal(open_volume(tmp_path / "img.ome.zarr").read(BOX), vol[BOX])


def test_plain_group_with_one_array(vol, tmp_path):
    root = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    root.create_array("data", shape=vol.shape, dtype=vol.dtype)[...] = vol
    np.testing.assert_array_equal(open_volume(tmp_path / "g.zarr").read(BOX), vol[BOX])
    root.create_array("other", shape=vol.shape, dtype=vol.dtype)
    with pytest.raises(
        ValueError, match=r"2 arrays .* no OME-Zarr 'multiscales'.*Pass the array's own path"
    ):
        open_volume(tmp_path / "g.zarr")


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (np.zeros((4, 4)), ValueError, r"\(4, 4\) \(2D\): expected a 3D array"),
        (np.zeros((2, 4, 4, 4)), ValueError, "expected a 3D array"),
        (np.zeros((4, 4, 4), bool), TypeError, "dtype bool: expected integer or floating"),
        (np.zeros((0, 4, 4)), ValueError, "empty"),
        (42, TypeError, "is not a volume"),
    ],
)
def test_bad_volumes_are_named(bad, error, message):
    with pytest.raises(error, match=message):
        open_volume(bad)


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such volume file or zarr directory"):
        open_volume(tmp_path / "nope.zarr")
