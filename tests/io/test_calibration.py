"""The voxel size recorded in volume files: TIFF (ImageJ, OME), OME-Zarr, MRC, HDF5."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from voxpick.io import read_calibration, read_voxel_size, write_tiff
from voxpick.io.calibration import (
    CalibrationWarning,
    convert_length,
    normalize_unit,
    resolve_voxel_size,
)

VOL = np.arange(4 * 8 * 8, dtype=np.uint8).reshape(4, 8, 8)


def test_imagej_spacing_resolution_and_unit(tmp_path: Path):
    path = tmp_path / "fiji.tif"
    tifffile.imwrite(
        path, VOL, imagej=True, resolution=(10.0, 10.0),
        metadata={"spacing": 0.113, "unit": "micron", "axes": "ZYX"},
    )  # fmt: skip
    cal = read_calibration(path)
    assert cal is not None
    np.testing.assert_allclose(cal.voxel_size, (0.113, 0.1, 0.1))
    assert cal.unit == "um"
    assert cal.describe() == "0.113 x 0.1 x 0.1 um (from the TIFF's ImageJ metadata)"
    assert read_voxel_size(path) == cal.voxel_size


def test_imagej_escaped_micro_sign_and_default_z_step(tmp_path: Path):
    # ImageJ writes the micro sign escaped; without "spacing" the z step is ImageJ's default, 1
    path = tmp_path / "nospacing.tif"
    tifffile.imwrite(
        path, VOL, imagej=True, resolution=(5.0, 5.0), metadata={"unit": "\\u00B5m", "axes": "ZYX"}
    )
    cal = read_calibration(path)
    assert cal is not None and cal.unit == "um"
    np.testing.assert_allclose(cal.voxel_size, (1.0, 0.2, 0.2))


def test_uncalibrated_files_record_nothing(tmp_path: Path):
    tifffile.imwrite(tmp_path / "plain.tif", VOL, imagej=True, metadata={"axes": "ZYX"})
    tifffile.imwrite(tmp_path / "dpi.tif", VOL, resolution=(72.0, 72.0))  # a screen's dpi
    np.save(tmp_path / "v.npy", VOL)
    for name in ("plain.tif", "dpi.tif", "v.npy"):
        assert read_calibration(tmp_path / name) is None, name


def test_ome_tiff_physical_size_with_per_axis_units(tmp_path: Path):
    path = tmp_path / "v.ome.tif"
    meta = {
        "axes": "ZYX", "PhysicalSizeX": 100.0, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 0.1,
        "PhysicalSizeZ": 0.3,  # micrometres, the OME default unit
    }  # fmt: skip
    tifffile.imwrite(path, VOL, ome=True, metadata=meta)
    cal = read_calibration(path)
    assert cal is not None and cal.unit == "nm" and "OME-TIFF" in cal.source
    np.testing.assert_allclose(cal.voxel_size, (300.0, 100.0, 100.0))
    np.testing.assert_allclose(cal.in_unit("um"), (0.3, 0.1, 0.1))


def test_write_tiff_round_trip_is_exact(tmp_path: Path):
    path = write_tiff(tmp_path / "w.tif", VOL, voxel_size=(0.3, 0.1, 0.1))
    cal = read_calibration(path)
    assert cal is not None and cal.voxel_size == (0.3, 0.1, 0.1) and cal.unit == "um"


def test_ome_zarr_scale_and_axis_unit(tmp_path: Path):
    pytest.importorskip("ome_zarr")
    from voxpick.io import write_ome_zarr

    path = tmp_path / "img.zarr"
    write_ome_zarr(path, VOL.astype(np.float32), voxel_size=(12.0, 10.0, 10.0), levels=2)
    cal = read_calibration(path)
    assert cal is not None and cal.source == "the OME-Zarr scale"
    assert cal.voxel_size == (12.0, 10.0, 10.0) and cal.unit == "A"


def test_plain_zarr_array_records_nothing(tmp_path: Path):
    import zarr

    arr = zarr.create_array(str(tmp_path / "a.zarr"), shape=VOL.shape, dtype=VOL.dtype)
    arr[:] = VOL
    assert read_calibration(tmp_path / "a.zarr") is None


def test_mrc_header(tmp_path: Path):
    pytest.importorskip("mrcfile")
    from voxpick.io import write_mrc

    path = tmp_path / "t.mrc"
    write_mrc(path, VOL.astype(np.float32), voxel_size=10.012)
    cal = read_calibration(path)
    assert cal is not None and cal.unit == "A" and cal.source == "the MRC header"
    assert cal.voxel_size == (10.012, 10.012, 10.012)


def test_hdf5_element_size_um_and_key(tmp_path: Path):
    path = tmp_path / "v.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("raw", data=VOL).attrs["element_size_um"] = [0.5, 0.2, 0.2]
        f.create_dataset("other", data=VOL)
    cal = read_calibration(path, key="raw")
    assert cal is not None and cal.voxel_size == (0.5, 0.2, 0.2) and cal.unit == "um"
    assert read_calibration(path, key="other") is None
    from voxpick.io.volume import HDF5KeyError

    with pytest.raises(HDF5KeyError, match="holds 2 datasets") as err:
        read_calibration(path)
    assert err.value.keys == ["other", "raw"]


def test_missing_and_corrupt_files_are_clear_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"nope\.tif"):
        read_calibration(tmp_path / "nope.tif")
    (tmp_path / "bad.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(OSError, match=r"bad\.tif"):
        read_calibration(tmp_path / "bad.tif")


def test_units():
    assert [normalize_unit(u) for u in ("µm", "micron", "nanometer", "Å", "pixel", None)] == [
        "um", "um", "nm", "A", None, None,
    ]  # fmt: skip
    assert convert_length(1.2, "um", "A") == pytest.approx(12000.0)
    with pytest.raises(ValueError, match="cannot convert"):
        convert_length(1.0, "um", "furlong")


def test_resolve_voxel_size_uses_the_file_and_warns_on_disagreement(tmp_path: Path):
    path = write_tiff(tmp_path / "w.tif", VOL, voxel_size=(0.3, 0.1, 0.1))
    assert resolve_voxel_size(path, None)[0] == (0.3, 0.1, 0.1)
    assert resolve_voxel_size(VOL, None) == (1.0, None)  # arrays carry no calibration
    with pytest.warns(CalibrationWarning, match=r"differs from the voxel size .*0\.3 x 0\.1"):
        assert resolve_voxel_size(path, 0.2)[0] == 0.2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_voxel_size(path, (0.3, 0.1, 0.1))  # agreeing: silent
