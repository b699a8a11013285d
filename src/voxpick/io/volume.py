"""Read a 3D volume from any supported file, chosen by suffix."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import numpy.typing as npt

from voxpick.io.mrc import read_mrc
from voxpick.io.tiff import read_tiff
from voxpick.validation import check_volume

SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".tif",
    ".tiff",
    ".h5",
    ".hdf5",
    ".npy",
    ".raw",
    ".mrc",
    ".rec",
    ".map",
)
#: MRC/CCP4 suffixes, read with :func:`voxpick.io.mrc.read_mrc` (``.mrcs`` image stacks are not
#: volumes and are not accepted).
MRC_SUFFIXES: tuple[str, ...] = (".mrc", ".rec", ".map")


@contextlib.contextmanager
def open_hdf5(path: str | os.PathLike[str]) -> Iterator[h5py.File]:
    """Open an HDF5 file read-only, turning h5py's errors into messages naming the file.

    Parameters
    ----------
    path : str or os.PathLike
        HDF5 file.

    Yields
    ------
    h5py.File
        The open file, closed on exit.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    OSError
        The file is truncated, corrupt or not HDF5.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such HDF5 file.")
    try:
        handle = h5py.File(p, "r")
    except OSError as err:
        raise OSError(
            f"{p}: cannot open as HDF5 ({err}). The file is truncated, corrupt or not HDF5; "
            "re-create or re-download it."
        ) from err
    with handle:
        yield handle


def read_hdf5_dataset(handle: h5py.File, key: str) -> np.ndarray:
    """Read one dataset fully, turning read failures (e.g. truncated chunks) into ``OSError``.

    Parameters
    ----------
    handle : h5py.File
        Open file.
    key : str
        Dataset name, which must exist.

    Returns
    -------
    numpy.ndarray
    """
    try:
        return np.asarray(handle[key][()])
    except (OSError, ValueError, RuntimeError) as err:
        raise OSError(
            f"{handle.filename}: cannot read dataset {key!r} ({err}). The file may be truncated "
            "or corrupt; re-create or re-download it."
        ) from err


def _dataset_names(handle: h5py.File) -> list[str]:
    names: list[str] = []

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            names.append(name)

    handle.visititems(visit)
    return names


def _read_hdf5_volume(path: Path, key: str | None) -> np.ndarray:
    with open_hdf5(path) as handle:
        names = _dataset_names(handle)
        if key is None:
            if len(names) != 1:
                raise ValueError(
                    f"{path} holds {len(names)} datasets ({names[:10]}): pass key= to choose "
                    "one, e.g. read_volume(path, key=" + repr(names[0] if names else "data") + ")."
                )
            key = names[0]
        if key not in handle or not isinstance(handle[key], h5py.Dataset):
            raise ValueError(
                f"{path} has no dataset {key!r}: available datasets are {names[:10]}"
                + (f" and {len(names) - 10} more" if len(names) > 10 else "")
                + ". Pass one of them as key=."
            )
        return read_hdf5_dataset(handle, key)


def _read_raw(path: Path, shape: tuple[int, ...] | None, dtype: np.dtype) -> np.ndarray:
    if shape is None:
        raise ValueError(
            f"{path}: a .raw file has no header, so shape= is required: pass the (z, y, x) size, "
            "e.g. read_volume(path, shape=(31, 64, 64))."
        )
    shape = tuple(int(s) for s in shape)
    expected = int(np.prod(shape)) * dtype.itemsize
    actual = path.stat().st_size
    if actual != expected:
        raise ValueError(
            f"{path} has {actual} bytes but shape={shape} with dtype {dtype} needs {expected}. "
            "Check shape= and dtype= (the file may also be truncated)."
        )
    return np.fromfile(path, dtype=dtype).reshape(shape)


def read_volume(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    shape: tuple[int, ...] | None = None,
    dtype: npt.DTypeLike = np.uint8,
) -> np.ndarray:
    """Read a 3D (z, y, x) volume, choosing the reader by file suffix.

    Parameters
    ----------
    path : str or os.PathLike
        ``.tif``/``.tiff`` (multi-page or ImageJ stack), ``.h5``/``.hdf5`` (one dataset),
        ``.npy``, ``.raw`` (headerless bytes in C order) or ``.mrc``/``.rec``/``.map`` (MRC,
        3D; use :func:`voxpick.io.read_mrc` to get its voxel size too).
    key : str, optional
        HDF5 dataset name; may be left out when the file holds exactly one dataset.
    shape : tuple of int, optional
        Required for ``.raw``: the (z, y, x) size.
    dtype : numpy dtype, default uint8
        Voxel type of a ``.raw`` file.

    Returns
    -------
    numpy.ndarray
        A validated 3D volume.

    Raises
    ------
    ValueError
        Unsupported suffix, wrong dimensionality, missing ``shape`` or wrong size.
    OSError
        Truncated or corrupt file.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(
            f"{p}: unsupported volume suffix {p.suffix!r}: expected one of "
            f"{', '.join(SUPPORTED_SUFFIXES)}. Convert the file, e.g. to TIFF."
        )
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such volume file.")
    if suffix in (".tif", ".tiff"):
        return read_tiff(p)
    if suffix in MRC_SUFFIXES:
        return check_volume(read_mrc(p)[0], name=str(p))
    if suffix in (".h5", ".hdf5"):
        arr = _read_hdf5_volume(p, key)
    elif suffix == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise OSError(
                f"{p}: cannot read as .npy ({err}). The file may be truncated or corrupt."
            ) from err
    else:
        arr = _read_raw(p, shape, np.dtype(dtype))
    return check_volume(arr, name=str(p))
