"""The voxel size a volume file records: the calibration voxpick uses when none is given.

:func:`read_calibration` reads it without loading the voxels, from

- TIFF: the exact voxel size :func:`voxpick.io.write_tiff` stores, OME-XML ``PhysicalSizeX/Y/Z``
  (OME-TIFF), ImageJ ``spacing`` + X/Y resolution + ``unit``;
- OME-Zarr: the ``scale`` coordinate transformations of level 0 and the ``unit`` of the axes;
- MRC/CCP4: the header's cell size over the sampling, in Angstrom;
- HDF5: an ``element_size_um`` attribute of the dataset (the convention of Fiji's HDF5
  plugin and ilastik), in um.

Units are normalised to the short names of :data:`LENGTH_UNITS` (``"um"``, ``"nm"``, ``"A"``,
...), or ``None`` when the file gives none. :func:`resolve_voxel_size` is the one rule that
:func:`voxpick.locate`, :func:`voxpick.analysis.check_diameter` and the command line follow:
an explicit voxel size wins (with a :class:`CalibrationWarning` when it disagrees with the file),
else the file's, else 1 (the diameter is then in voxels).
"""

from __future__ import annotations

import html
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxpick.validation import as_triple

VoxelSize = tuple[float, float, float]

#: Length units known to voxpick, as micrometres per unit (short names are the canonical ones).
LENGTH_UNITS: dict[str, float] = {"m": 1e6, "mm": 1e3, "um": 1.0, "nm": 1e-3, "A": 1e-4}

_ALIASES: dict[str, str] = {
    "meter": "m", "metre": "m", "meters": "m", "metres": "m",
    "millimeter": "mm", "millimetre": "mm", "millimeters": "mm", "millimetres": "mm",
    "micrometer": "um", "micrometre": "um", "micrometers": "um", "micrometres": "um",
    "micron": "um", "microns": "um", "µm": "um", "μm": "um", "\\u00b5m": "um", "u": "um",
    "nanometer": "nm", "nanometre": "nm", "nanometers": "nm", "nanometres": "nm",
    "a": "A", "å": "A", "Å": "A", "ang": "A", "angstrom": "A", "angstroms": "A",
    "ångström": "A",
}  # fmt: skip

#: Relative difference per axis above which a given voxel size "disagrees" with the file's.
AGREEMENT = 1e-3


class CalibrationWarning(UserWarning):
    """An explicit voxel size differs from the one the volume file records."""


def normalize_unit(unit: Any) -> str | None:
    """Return the canonical short name of a length unit, or None when unknown or absent.

    Parameters
    ----------
    unit : str or None
        As written in a file or typed by a person: ``"micron"``, ``"µm"``, ``"micrometer"``,
        ``"nm"``, ``"Å"``, ``"angstrom"``, ...

    Returns
    -------
    str or None
        A key of :data:`LENGTH_UNITS`; ``None`` for ``None``, ``"pixel"`` and unknown names.

    Examples
    --------
    >>> normalize_unit("micron"), normalize_unit("Å"), normalize_unit("pixel")
    ('um', 'A', None)
    """
    if unit is None:
        return None
    text = str(unit).strip()
    if text in LENGTH_UNITS:
        return text
    lowered = text.lower()
    if lowered in LENGTH_UNITS:
        return lowered
    return _ALIASES.get(text, _ALIASES.get(lowered))


def convert_length(value: float, unit: str | None, to: str | None) -> float:
    """Convert a length between two units of :data:`LENGTH_UNITS`.

    Parameters
    ----------
    value : float
        The length.
    unit, to : str or None
        Its unit and the wanted one (any spelling :func:`normalize_unit` knows).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        A unit is unknown, or only one of the two is given.

    Examples
    --------
    >>> convert_length(1.2, "um", "nm")
    1200.0
    """
    a, b = normalize_unit(unit), normalize_unit(to)
    if a == b and (a is not None or unit == to):
        return float(value)
    if a is None or b is None:
        raise ValueError(
            f"cannot convert a length from {unit!r} to {to!r}: expected two of "
            f"{', '.join(LENGTH_UNITS)} (or the same unit twice)."
        )
    return float(value) * LENGTH_UNITS[a] / LENGTH_UNITS[b]


def _format_number(value: float) -> str:
    return f"{value:.4g}"


def format_triple(values: Any, unit: str | None = None) -> str:
    """Write a (z, y, x) length as ``"0.113 x 0.1 x 0.1 um"`` (one number when isotropic).

    Parameters
    ----------
    values : float or sequence of 3 float
    unit : str, optional

    Returns
    -------
    str
    """
    triple = np.broadcast_to(np.asarray(values, dtype=float), (3,))
    if np.allclose(triple, triple[0], rtol=1e-9, atol=0):
        text = _format_number(float(triple[0]))
    else:
        text = " x ".join(_format_number(float(v)) for v in triple)
    return f"{text} {unit}" if unit else text


@dataclass(frozen=True)
class Calibration:
    """The voxel size a file records.

    Attributes
    ----------
    voxel_size : tuple of 3 float
        ``(z, y, x)`` size of a voxel in ``unit``.
    unit : str or None
        A key of :data:`LENGTH_UNITS` (``"um"``, ``"nm"``, ``"A"``, ...), or ``None`` when the
        file gives no unit.
    source : str
        Where it was read, e.g. ``"the TIFF's ImageJ metadata"``.
    path : str
        The file.
    """

    voxel_size: VoxelSize
    unit: str | None
    source: str
    path: str = ""

    def describe(self) -> str:
        """Say what it is and where it comes from, in one phrase.

        Returns
        -------
        str
            E.g. ``"0.113 x 0.1 x 0.1 um (from the TIFF's ImageJ metadata)"``.
        """
        unit = self.unit or "(no unit recorded)"
        return f"{format_triple(self.voxel_size, unit)} (from {self.source})"

    def in_unit(self, unit: str) -> VoxelSize:
        """Return the voxel size converted to ``unit``.

        Parameters
        ----------
        unit : str
            Any unit :func:`normalize_unit` knows.

        Returns
        -------
        tuple of 3 float
        """
        z, y, x = (convert_length(v, self.unit, unit) for v in self.voxel_size)
        return (z, y, x)

    def __repr__(self) -> str:
        return f"Calibration({self.describe()})"

    def _repr_html_(self) -> str:
        return f"<b>voxel size</b> {html.escape(self.describe())}"


def _tiff_calibration(path: Path) -> tuple[VoxelSize, str | None, str] | None:
    import tifffile

    from voxpick.io.tiff import tiff_calibration

    try:
        with tifffile.TiffFile(path) as tif:
            return tiff_calibration(tif)
    except Exception as err:  # tifffile raises many types for corrupt input
        raise OSError(
            f"{path}: cannot read the TIFF's metadata ({type(err).__name__}: {err}). The file "
            "is truncated, corrupt or not a TIFF; re-create or re-download it."
        ) from err


def _zarr_calibration(path: Path) -> tuple[VoxelSize, str | None, str] | None:
    import zarr

    from voxpick.io.omezarr import _level_voxel_size, _multiscales

    try:
        node = zarr.open(str(path), mode="r")
    except Exception as err:  # zarr raises several types for a non-zarr directory
        raise OSError(f"{path}: cannot open as zarr ({type(err).__name__}: {err}).") from err
    multiscales = None if isinstance(node, zarr.Array) else _multiscales(dict(node.attrs))
    if not multiscales:
        return None
    ms = dict(multiscales[0])
    try:
        level0: Any = node[ms["datasets"][0]["path"]]
        ndim = int(level0.ndim)
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    vs = _level_voxel_size(ms, 0, ndim, str(path))
    axes = [a for a in ms.get("axes") or () if isinstance(a, dict)]
    units = {normalize_unit(a.get("unit")) for a in axes if a.get("name") in ("z", "y", "x")}
    unit = units.pop() if len(units) == 1 else None
    return vs, unit, "the OME-Zarr scale"


def _mrc_calibration(path: Path) -> tuple[VoxelSize, str | None, str] | None:
    from voxpick.io.mrc import read_mrc

    data, vs = read_mrc(path, mmap=True)
    del data
    return None if vs is None else (vs, "A", "the MRC header")


def _hdf5_calibration(path: Path, key: str | None) -> tuple[VoxelSize, str | None, str] | None:
    from voxpick.io.volume import hdf5_dataset_name, open_hdf5

    with open_hdf5(path) as handle:
        name = hdf5_dataset_name(handle, path, key)
        size = handle[name].attrs.get("element_size_um")
    if size is None:
        return None
    values = np.asarray(size, dtype=float).ravel()
    if values.size != 3 or not np.all(np.isfinite(values)) or values.min() <= 0:
        return None
    return (float(values[0]), float(values[1]), float(values[2])), "um", "the HDF5 element_size_um"


def read_calibration(path: str | os.PathLike[str], *, key: str | None = None) -> Calibration | None:
    """Read the voxel size a volume file records, with its unit, without reading the voxels.

    Parameters
    ----------
    path : str or os.PathLike
        A TIFF (ImageJ, OME-TIFF or written by :func:`voxpick.io.write_tiff`), an OME-Zarr
        image, an MRC/CCP4 file (needs ``mrcfile``) or an HDF5 file; other formats (``.npy``,
        ``.raw``, plain zarr arrays) record none.
    key : str, optional
        HDF5 dataset (may be left out when the file holds one).

    Returns
    -------
    Calibration or None
        ``None`` when the file records no voxel size.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    OSError
        The file's metadata cannot be read.

    Examples
    --------
    >>> from voxpick.io import write_tiff
    >>> path = write_tiff("/tmp/calibrated.tif", np.zeros((4, 8, 8), np.uint8),
    ...                   voxel_size=(0.3, 0.1, 0.1))
    >>> read_calibration(path).describe()
    "0.3 x 0.1 x 0.1 um (from the TIFF's ImageJ metadata)"
    """
    from voxpick.io.source import is_zarr_path
    from voxpick.io.volume import MRC_SUFFIXES

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such volume file or zarr directory.")
    suffix = p.suffix.lower()
    found: tuple[VoxelSize, str | None, str] | None = None
    if is_zarr_path(p):
        found = _zarr_calibration(p)
    elif suffix in (".tif", ".tiff"):
        found = _tiff_calibration(p)
    elif suffix in MRC_SUFFIXES:
        found = _mrc_calibration(p)
    elif suffix in (".h5", ".hdf5"):
        found = _hdf5_calibration(p, key)
    if found is None:
        return None
    vs, unit, source = found
    if not all(math.isfinite(v) and v > 0 for v in vs):
        return None
    normal = normalize_unit(unit)
    if unit is not None and normal is None:
        source = f"{source}, unit {unit!r} not understood"
    return Calibration(voxel_size=vs, unit=normal, source=source, path=str(p))


def read_voxel_size(path: str | os.PathLike[str], *, key: str | None = None) -> VoxelSize | None:
    """Read the (z, y, x) voxel size a volume file records (its unit: :func:`read_calibration`).

    Parameters
    ----------
    path : str or os.PathLike
        See :func:`read_calibration`.
    key : str, optional
        HDF5 dataset.

    Returns
    -------
    tuple of 3 float or None
    """
    cal = read_calibration(path, key=key)
    return None if cal is None else cal.voxel_size


def disagrees(given: Any, calibration: Calibration, *, unit: str | None = None) -> bool:
    """Whether a voxel size differs from a file's by more than :data:`AGREEMENT` on some axis.

    Parameters
    ----------
    given : float or sequence of 3 float
        The voxel size given, in ``unit`` (default: the file's unit).
    calibration : Calibration
        The file's.
    unit : str, optional
        Unit of ``given``.

    Returns
    -------
    bool
    """
    ref = calibration.voxel_size
    if unit is not None and calibration.unit is not None and normalize_unit(unit) is not None:
        ref = calibration.in_unit(unit)
    told = as_triple(given, name="voxel_size")
    return any(abs(a - b) > AGREEMENT * abs(b) for a, b in zip(told, ref, strict=True))


def resolve_voxel_size(
    volume: Any, voxel_size: Any, *, key: str | None = None
) -> tuple[Any, Calibration | None]:
    """Choose the voxel size of a run: the one given, else the file's, else 1.

    Parameters
    ----------
    volume : object
        The volume: only a path (``str`` or ``os.PathLike``) is looked at for a calibration.
    voxel_size : float, sequence of 3 float or None
        ``None``: the file's calibration when ``volume`` is a path whose file records one, else
        1 (voxels). A value is used as given; when it disagrees with the file's calibration a
        :class:`CalibrationWarning` says so.
    key : str, optional
        HDF5 dataset.

    Returns
    -------
    voxel_size : float or tuple of 3 float
        What to use.
    calibration : Calibration or None
        The file's calibration, when it has one.
    """
    cal = None
    if isinstance(volume, str | os.PathLike) and Path(volume).exists():
        cal = read_calibration(volume, key=key)
    if voxel_size is None:
        return (cal.voxel_size if cal is not None else 1.0), cal
    if cal is not None and disagrees(voxel_size, cal):
        warnings.warn(
            f"voxel_size={voxel_size!r} differs from the voxel size {cal.path} records, "
            f"{cal.describe()}: using voxel_size={voxel_size!r}. Leave voxel_size out to use "
            "the file's.",
            CalibrationWarning,
            stacklevel=3,
        )
    return voxel_size, cal
