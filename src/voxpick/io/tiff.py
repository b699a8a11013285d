"""TIFF volumes: read any multi-page/ImageJ stack, write ImageJ-compatible stacks atomically."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import tifffile

from voxpick.io.atomic import atomic_path
from voxpick.validation import as_triple, check_volume

#: Voxel types ImageJ can open; other types are written as plain (tifffile "shaped") TIFFs.
IMAGEJ_DTYPES: tuple[np.dtype, ...] = (np.dtype("uint8"), np.dtype("uint16"), np.dtype("float32"))
#: ImageJ description key holding the exact (z, y, x) voxel size written by :func:`write_tiff`.
VOXEL_SIZE_KEY = "voxpick_voxel_size"

VoxelSize = tuple[float, float, float]
#: ``((z, y, x) voxel size, unit or None, where it was found)``.
TiffCalibration = tuple[VoxelSize, str | None, str]


class _ErrorCollector(logging.Handler):
    """Collect tifffile's logged errors: tifffile logs (rather than raises) many corruptions."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _collect_tifffile_errors() -> Iterator[_ErrorCollector]:
    collector = _ErrorCollector()
    logger = logging.getLogger("tifffile")
    logger.addHandler(collector)
    try:
        yield collector
    finally:
        logger.removeHandler(collector)


def _check_data_within_file(tif: tifffile.TiffFile, size: int, path: Path) -> None:
    for page in tif.pages:
        offsets = getattr(page, "dataoffsets", ())
        counts = getattr(page, "databytecounts", ())
        for offset, count in zip(offsets, counts, strict=False):
            if offset + count > size:
                raise OSError(
                    f"{path}: image data ends at byte {offset + count} but the file has only "
                    f"{size} bytes: the file is truncated. Re-create or re-download it."
                )


def _to_3d(arr: np.ndarray, axes: str, path: Path) -> np.ndarray:
    if arr.ndim > 3:
        singleton = [i for i, n in enumerate(arr.shape) if n == 1]
        if len(singleton) >= arr.ndim - 3:
            arr = np.squeeze(arr, axis=tuple(singleton[: arr.ndim - 3]))
    if arr.ndim != 3:
        if arr.ndim < 3:
            fix = "Save the whole z-stack as one multi-page TIFF."
        else:
            fix = (
                "For a time series (t, z, y, x) use `voxpick track` or voxpick.batch (every "
                "frame); otherwise pass one 3D volume at a time (e.g. one channel)."
            )
        raise ValueError(
            f"{path} holds {arr.ndim}D data of shape {arr.shape} (axes {axes!r}): expected a "
            f"single 3D grayscale stack (z, y, x). {fix}"
        )
    return arr


def _imagej_calibration(tif: tifffile.TiffFile, meta: dict[str, Any]) -> TiffCalibration | None:
    """ImageJ's calibration: ``spacing`` (z), X/Y resolution (pixels per unit) and ``unit``."""
    unit = meta.get("unit")
    unit = None if unit in (None, "", "pixel", "pixels") else str(unit)
    exact = meta.get(VOXEL_SIZE_KEY)
    if isinstance(exact, str):
        with contextlib.suppress(ValueError):
            parts = [float(v) for v in exact.split(",")]
            if len(parts) == 3:
                return (parts[0], parts[1], parts[2]), unit, "the TIFF's ImageJ metadata"
    page = tif.pages[0]
    tags: Any = page.tags if isinstance(page, tifffile.TiffPage) else {}
    yx = [1.0, 1.0]
    for i, name in enumerate(("YResolution", "XResolution")):
        if name in tags:
            num, den = tags[name].value
            if num > 0 and den > 0:
                yx[i] = den / num
    spacing = meta.get("spacing")
    z = float(spacing) if isinstance(spacing, int | float) and spacing > 0 else 1.0
    if unit is None and spacing is None and yx == [1.0, 1.0]:
        return None  # an uncalibrated ImageJ stack: 1 pixel, no unit
    return (z, yx[0], yx[1]), unit, "the TIFF's ImageJ metadata"


def _ome_calibration(tif: tifffile.TiffFile) -> TiffCalibration | None:
    """OME-XML ``PhysicalSizeX/Y/Z`` of the first image, in the unit of ``PhysicalSizeX``."""
    from voxpick.io.calibration import convert_length, normalize_unit

    xml = tif.ome_metadata
    if not xml:
        return None
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return None
    pixels = root.find(".//{*}Image/{*}Pixels")
    if pixels is None:
        return None
    sizes, units = [], []
    for axis in ("Z", "Y", "X"):
        value = pixels.get(f"PhysicalSize{axis}")
        if value is None:
            return None  # e.g. no z step: not a 3D calibration
        try:
            sizes.append(float(value))
        except ValueError:
            return None
        units.append(normalize_unit(pixels.get(f"PhysicalSize{axis}Unit", "µm")))
    unit = units[2]
    if any(u != unit for u in units):  # per-axis units: express all in the unit of x
        if None in units:
            return None
        sizes = [convert_length(v, u, unit) for v, u in zip(sizes, units, strict=True)]
    if min(sizes) <= 0:
        return None
    return (sizes[0], sizes[1], sizes[2]), unit, "the OME-TIFF's PhysicalSize"


def tiff_calibration(tif: tifffile.TiffFile) -> TiffCalibration | None:
    """Read the voxel size a TIFF records, its unit and where it was found.

    Parameters
    ----------
    tif : tifffile.TiffFile
        An open file.

    Returns
    -------
    tuple or None
        ``((z, y, x), unit, source)``: the unit as written in the file (``None`` when it has
        none) and a phrase naming the metadata, or ``None`` when the file holds no
        calibration. Read, in this order: the exact voxel size :func:`write_tiff` stores, OME-XML
        ``PhysicalSizeX/Y/Z``, ImageJ ``spacing`` and X/Y resolution with ``unit`` (a missing
        ``spacing`` is ImageJ's default z step, 1 unit), tifffile "shaped" metadata. Plain X/Y
        resolution tags of other TIFFs (often a screen's dots per inch) are ignored.
    """
    meta: dict[str, Any] | None = tif.imagej_metadata
    if meta is not None and isinstance(meta.get(VOXEL_SIZE_KEY), str):
        return _imagej_calibration(tif, meta)
    if tif.is_ome:
        found = _ome_calibration(tif)
        if found is not None:
            return found
    if meta is not None:
        return _imagej_calibration(tif, meta)
    shaped = tif.shaped_metadata
    if shaped and isinstance(shaped[0], dict) and shaped[0].get("voxel_size") is not None:
        vs = shaped[0]["voxel_size"]
        unit = shaped[0].get("unit")
        vz, vy, vx = float(vs[0]), float(vs[1]), float(vs[2])
        return (vz, vy, vx), None if unit is None else str(unit), "the TIFF's metadata"
    return None


def _voxel_size(tif: tifffile.TiffFile) -> VoxelSize | None:
    found = tiff_calibration(tif)
    return None if found is None else found[0]


def read_tiff_with_voxel_size(path: str | os.PathLike[str]) -> tuple[np.ndarray, VoxelSize | None]:
    """Read a 3D TIFF stack and its (z, y, x) voxel size when the file records one.

    Parameters
    ----------
    path : str or os.PathLike
        A multi-page TIFF, ImageJ hyperstack or tifffile "shaped" TIFF. The first image series
        is read; singleton axes beyond three (e.g. one channel) are dropped.

    Returns
    -------
    volume : numpy.ndarray
        3D array, axes (z, y, x), in the file's dtype.
    voxel_size : tuple of float or None
        ``(z, y, x)`` size of a voxel in the file's unit: exact when written by
        :func:`write_tiff`; from ImageJ ``spacing`` and X/Y resolution for other ImageJ
        files; ``None`` when the file holds no calibration.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    OSError
        The file is truncated, corrupt or not a TIFF.
    ValueError
        The file holds 2D or 4D+ data.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such TIFF file.")
    size = p.stat().st_size
    with _collect_tifffile_errors() as errors:
        try:
            with tifffile.TiffFile(p) as tif:
                series = tif.series[0]
                axes = str(series.axes)
                arr = np.asarray(series.asarray())
                shaped = tif.shaped_metadata
                if shaped and isinstance(shaped[0], dict) and len(shaped[0].get("shape", ())) == 3:
                    # tifffile records the written shape; recovers a one-slice (1, y, x) stack
                    shape = tuple(int(n) for n in shaped[0]["shape"])
                    if int(np.prod(shape)) == arr.size:
                        arr = arr.reshape(shape)
                _check_data_within_file(tif, size, p)
                voxel_size = _voxel_size(tif)
        except OSError as err:
            if str(p) in str(err):
                raise
            raise OSError(f"{p}: cannot read as TIFF ({err}).") from err
        except Exception as err:  # tifffile raises many types for corrupt input
            raise OSError(
                f"{p}: cannot read as TIFF ({type(err).__name__}: {err}). The file is truncated, "
                "corrupt or not a TIFF; re-create or re-download it."
            ) from err
    if errors.messages:
        raise OSError(
            f"{p}: the TIFF is corrupt or truncated (tifffile: {errors.messages[0]}). "
            "Re-create or re-download it."
        )
    return _to_3d(arr, axes, p), voxel_size


def read_tiff(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a 3D TIFF stack as a (z, y, x) array.

    Parameters
    ----------
    path : str or os.PathLike
        See :func:`read_tiff_with_voxel_size`.

    Returns
    -------
    numpy.ndarray
        3D array in the file's dtype.
    """
    return read_tiff_with_voxel_size(path)[0]


def write_tiff(
    path: str | os.PathLike[str],
    volume: Any,
    *,
    voxel_size: float | tuple[float, float, float] | None = None,
    unit: str = "um",
) -> Path:
    """Write a 3D volume as a TIFF stack, atomically.

    uint8, uint16 and float32 volumes are written as ImageJ stacks (axes ZYX) that Fiji opens
    with the right calibration: ``spacing`` = z voxel size, X/Y resolution = 1 / x, y voxel
    size, ``unit``. The exact ``(z, y, x)`` voxel size is also stored under the ImageJ key
    ``voxpick_voxel_size`` so that :func:`read_tiff_with_voxel_size` recovers it bit-exactly.
    Other dtypes, and one-slice volumes (which ImageJ would store as a 2D image), are written
    as tifffile "shaped" TIFFs: the exact shape and voxel size go in the JSON description.

    Parameters
    ----------
    path : str or os.PathLike
        Destination (``.tif``/``.tiff``). Written to a temporary file first, then renamed.
    volume : array_like
        3D array, axes (z, y, x).
    voxel_size : float or tuple of 3 floats, optional
        Physical voxel size ``(z, y, x)`` (a scalar means isotropic).
    unit : str, default "um"
        Unit of ``voxel_size`` recorded in ImageJ metadata.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    vol = check_volume(volume)
    vs = None if voxel_size is None else as_triple(voxel_size, name="voxel_size")
    target = Path(path)
    with atomic_path(target) as tmp:
        if vol.dtype in IMAGEJ_DTYPES and vol.shape[0] > 1:
            metadata: dict[str, Any] = {"axes": "ZYX"}
            kwargs: dict[str, Any] = {}
            if vs is not None:
                metadata.update(
                    spacing=vs[0], unit=unit, **{VOXEL_SIZE_KEY: ",".join(repr(v) for v in vs)}
                )
                kwargs["resolution"] = (1.0 / vs[2], 1.0 / vs[1])
            tifffile.imwrite(
                tmp, vol, imagej=True, photometric="minisblack", metadata=metadata, **kwargs
            )
        else:
            shaped: dict[str, Any] = {"axes": "ZYX"}
            if vs is not None:
                shaped.update(voxel_size=list(vs), unit=unit)
            tifffile.imwrite(tmp, vol, photometric="minisblack", metadata=shaped)
    return target
