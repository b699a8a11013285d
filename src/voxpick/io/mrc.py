"""MRC/CCP4 volumes (``.mrc``, ``.rec``, ``.map``): the usual cryo-ET tomogram format.

Reading and writing go through :mod:`mrcfile`, an optional dependency (``pip install
'voxpick[cryoet]'``) imported only when a function here is called. The voxel size comes from the
header (``cella`` divided by the sampling ``mx, my, mz``), in Angstrom, returned in voxpick's
(z, y, x) order.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from voxpick.io.atomic import atomic_path
from voxpick.validation import as_triple, check_volume

VoxelSize = tuple[float, float, float]

#: Voxel types kept by a :func:`write_mrc` / :func:`read_mrc` round trip (MRC modes 0, 1, 2, 6,
#: 12; uint8 is stored widened to uint16, mode 6, and narrowed back on reading).
MRC_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(t) for t in ("int8", "uint8", "int16", "uint16", "float16", "float32")
)
#: Header label marking a uint16 file that holds uint8 data written by :func:`write_mrc`.
UINT8_LABEL = "voxpick: uint8 data stored as mode 6"
_IMOD_STAMP = 1146047817


def _mrcfile() -> ModuleType:
    try:
        import mrcfile
    except ImportError as err:
        raise ImportError(
            "mrcfile is needed to read and write MRC files: pip install 'voxpick[cryoet]' "
            "(or pip install mrcfile).",
            name="mrcfile",
        ) from err
    return mrcfile


def _axis_permutation(header: Any, path: Path) -> tuple[int, int, int]:
    """Permutation taking the stored (section, row, column) axes to (z, y, x)."""
    labels = (int(header.maps), int(header.mapr), int(header.mapc))  # 1 = X, 2 = Y, 3 = Z
    if sorted(labels) != [1, 2, 3]:
        raise OSError(
            f"{path}: the MRC header maps columns/rows/sections to axes {labels[::-1]} "
            "(mapc, mapr, maps): expected a permutation of 1, 2, 3. The header is corrupt; "
            "re-create or re-download the file."
        )
    return (labels.index(3), labels.index(2), labels.index(1))


def _voxel_size(mrc: Any) -> VoxelSize | None:
    vs = mrc.voxel_size
    # the header stores float32 cell lengths: round to 6 significant digits, so that a voxel
    # size of 7.84 A written by write_mrc reads back as 7.84, not 7.8399997
    triple = tuple(float(f"{float(v):.6g}") for v in (vs.z, vs.y, vs.x))
    if not all(np.isfinite(triple)) or min(triple) <= 0:
        return None
    return (triple[0], triple[1], triple[2])


def _restore_dtype(data: np.ndarray, header: Any, *, mmap: bool) -> np.ndarray:
    """Undo uint8 widening by :func:`write_mrc`; read IMOD's unsigned-byte mode 0 as uint8."""
    if data.dtype.kind == "i" and data.dtype.itemsize == 1:
        # IMOD header fields at bytes 152 (stamp) and 156 (flags; bit 0 = signed bytes)
        stamp, flags = np.frombuffer(bytes(header.extra2)[40:48], dtype=header.nx.dtype)
        if int(stamp) == _IMOD_STAMP and not int(flags) & 1:
            return data.view(np.uint8)
    elif data.dtype.kind == "u" and data.dtype.itemsize == 2 and not mmap:
        labels = [bytes(lab).decode("ascii", "replace") for lab in header.label]
        if any(lab.startswith(UINT8_LABEL) for lab in labels) and data.max() <= 255:
            return data.astype(np.uint8)
    return data


def _check_size(path: Path) -> None:
    """Check from the 1024-byte header alone that the data block is all there.

    mrcfile, even with ``header_only=True``, reads the extended header whose size comes from
    the header: on a corrupt or foreign file that can mean gigabytes. So the main header is
    parsed here (byte order as mrcfile's permissive mode finds it) before mrcfile opens the file.
    """
    mrcfile = _mrcfile()
    with path.open("rb") as fh:
        raw = fh.read(1024)
    if len(raw) < 1024:
        raise OSError(
            f"{path}: {len(raw)} bytes, fewer than the 1024 of an MRC header: the file is "
            "truncated or not MRC. Re-create or re-download it."
        )
    header = np.frombuffer(raw, dtype=mrcfile.dtypes.HEADER_DTYPE).reshape(()).view(np.recarray)
    try:
        order = mrcfile.utils.byte_order_from_machine_stamp(header.machst)
    except ValueError:
        order = "<"
    dtype = None
    for byte_order in (order, ">" if order == "<" else "<"):
        header = header.view(header.dtype.newbyteorder(byte_order))
        try:
            dtype = mrcfile.utils.dtype_from_mode(header.mode)
            break
        except ValueError:
            continue
    dims = [int(header.nx), int(header.ny), int(header.nz)]
    if dtype is None or min(dims) < 1 or int(header.nsymbt) < 0:
        raise OSError(
            f"{path}: not a valid MRC header (mode {int(header.mode)}, nx, ny, nz = "
            f"{tuple(dims)}): the file is corrupt or not MRC. Re-create or re-download it."
        )
    needed = 1024 + int(header.nsymbt) + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    size = path.stat().st_size
    if size < needed:
        raise OSError(
            f"{path}: the MRC header announces {needed} bytes (nx, ny, nz = {tuple(dims)}, "
            f"{dtype}) but the file has only {size}: it is truncated or corrupt. Re-create or "
            "re-download it."
        )


def read_mrc(
    path: str | os.PathLike[str], *, mmap: bool = False
) -> tuple[np.ndarray, VoxelSize | None]:
    """Read a 3D MRC volume and its (z, y, x) voxel size in Angstrom.

    Parameters
    ----------
    path : str or os.PathLike
        An MRC/CCP4 file (``.mrc``, ``.rec``, ``.map``, ...) holding 3D data. Headers with
        minor defects (e.g. an old file without the ``MAP`` identifier, or a tomogram marked as
        an image stack by ``ispg = 0``) are accepted; a truncated data block is not.
    mmap : bool, default False
        Return a read-only :class:`numpy.memmap` instead of loading the data into memory, for
        tomograms larger than RAM. The file must not be modified while the map is in use.

    Returns
    -------
    volume : numpy.ndarray
        3D array, axes (z, y, x) (files with a non-standard ``mapc, mapr, maps`` axis order are
        transposed to it), in the file's dtype (native byte order unless ``mmap=True``).
        uint8 volumes written by :func:`write_mrc` come back as uint8 (as uint16 with
        ``mmap=True``); IMOD's unsigned-byte mode 0 files are read as uint8.
    voxel_size : tuple of float or None
        ``(z, y, x)`` voxel size in Angstrom from the header, rounded to 6 significant digits
        (the header stores float32 cell lengths); ``None`` when the header records no cell
        size (zeros), as some simulation tools write.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    OSError
        The file is truncated, corrupt or not MRC.
    ValueError
        The file holds a 2D image or 4D data rather than one 3D volume.
    ImportError
        ``mrcfile`` is not installed (it comes with the ``cryoet`` extra).

    Examples
    --------
    >>> volume, voxel_size = read_mrc("TS_5_4.mrc")  # doctest: +SKIP
    >>> voxel_size  # Angstrom, (z, y, x)  # doctest: +SKIP
    (10.012, 10.012, 10.012)
    """
    mrcfile = _mrcfile()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such MRC file.")
    _check_size(p)
    opener = mrcfile.mmap if mmap else mrcfile.open
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with opener(p, mode="r", permissive=True) as mrc:
                data = mrc.data
                header = mrc.header
                voxel_size = _voxel_size(mrc)
        except (ValueError, OSError, EOFError) as err:
            raise OSError(
                f"{p}: cannot read as MRC ({err}). The file is truncated, corrupt or not MRC; "
                "re-create or re-download it."
            ) from err
    if data is None:
        detail = "; ".join(str(w.message) for w in caught) or "no data block"
        raise OSError(
            f"{p}: the MRC data block cannot be read ({detail}). The file is truncated or "
            "corrupt; re-create or re-download it."
        )
    if data.ndim != 3:
        raise ValueError(
            f"{p} holds {data.ndim}D data of shape {data.shape}: expected one 3D volume "
            "(z, y, x). For a single 2D image or a 4D volume stack, read it with mrcfile.open."
        )
    perm = _axis_permutation(header, p)
    data = _restore_dtype(data, header, mmap=mmap)
    arr = np.transpose(data, perm) if perm != (0, 1, 2) else data
    if not mmap:
        arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    return arr, voxel_size


def write_mrc(
    path: str | os.PathLike[str],
    volume: Any,
    *,
    voxel_size: float | tuple[float, float, float],
) -> Path:
    """Write a 3D volume as an MRC2014 file, atomically, with its voxel size in the header.

    Parameters
    ----------
    path : str or os.PathLike
        Destination (``.mrc``, ``.rec`` or ``.map``). Written to a temporary file first, then
        renamed.
    volume : array_like
        3D array, axes (z, y, x), finite. int8, int16, uint16, float16 and float32 are written
        as they are; uint8 is stored as uint16 (MRC2014 mode 0 is signed) with a header label
        that makes :func:`read_mrc` return uint8; float64 is written as float32 (MRC has no
        64-bit mode).
    voxel_size : float or tuple of 3 floats
        ``(z, y, x)`` voxel size in Angstrom (a scalar means isotropic); stored in the header
        (``cella = shape * voxel_size``) so :func:`read_mrc` returns it.

    Returns
    -------
    pathlib.Path
        The written path. The file is complete or absent, never partial.

    Raises
    ------
    TypeError
        A dtype MRC cannot store (e.g. int32, int64, uint32, bool).
    ValueError
        Not 3D, empty, NaN/infinite voxels or a bad ``voxel_size``.
    ImportError
        ``mrcfile`` is not installed (it comes with the ``cryoet`` extra).
    """
    mrcfile = _mrcfile()
    vol = check_volume(volume)
    vs = as_triple(voxel_size, name="voxel_size")
    if vol.dtype == np.float64:
        vol = vol.astype(np.float32)
    if vol.dtype.newbyteorder("=") not in MRC_DTYPES:
        raise TypeError(
            f"volume has dtype {vol.dtype}: MRC stores only "
            f"{', '.join(str(d) for d in MRC_DTYPES)} (and float64 as float32). Convert it "
            "first, e.g. volume.astype(numpy.float32) or volume.astype(numpy.int16)."
        )
    target = Path(path)
    with atomic_path(target) as tmp:
        with mrcfile.new(tmp, overwrite=True) as mrc:
            mrc.set_data(np.ascontiguousarray(vol))
            mrc.voxel_size = (vs[2], vs[1], vs[0])  # mrcfile wants (x, y, z)
            mrc.update_header_stats()
            if vol.dtype == np.uint8:
                mrc.add_label(UINT8_LABEL)
    return target
