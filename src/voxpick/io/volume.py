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


class HDF5KeyError(ValueError):
    """An HDF5 file holds several datasets, or not the one asked for: a key must be chosen.

    Attributes
    ----------
    path : str
        The file.
    key : str or None
        The key asked for (``None``: none given).
    keys : list of str
        The datasets the file holds.
    """

    def __init__(self, message: str, *, path: str, key: str | None, keys: list[str]) -> None:
        super().__init__(message)
        self.path, self.key, self.keys = path, key, keys


def list_keys(keys: list[str], limit: int = 10) -> str:
    """Return dataset names as ``'a', 'b' and 3 more`` for messages.

    Parameters
    ----------
    keys : list of str
    limit : int
        Names shown at most.

    Returns
    -------
    str
    """
    shown = ", ".join(repr(k) for k in keys[:limit]) or "none"
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def hdf5_dataset_name(handle: h5py.File, path: str | os.PathLike[str], key: str | None) -> str:
    """Return the dataset to read: ``key``, or the file's only dataset.

    Parameters
    ----------
    handle : h5py.File
        Open file.
    path : str or os.PathLike
        Its path, for messages.
    key : str or None
        Dataset name asked for.

    Returns
    -------
    str

    Raises
    ------
    HDF5KeyError
        No key with several datasets (or none), or a key the file does not hold; the message
        lists the available datasets.
    """
    names = _dataset_names(handle)
    if key is None:
        if len(names) != 1:
            example = repr(names[0] if names else "data")
            raise HDF5KeyError(
                f"{path} holds {len(names)} datasets ({list_keys(names)}): pass key= to choose "
                f"one, e.g. read_volume(path, key={example}) (command line: --key "
                f"{names[0] if names else 'data'}).",
                path=str(path), key=None, keys=names,
            )  # fmt: skip
        return names[0]
    if key not in handle or not isinstance(handle[key], h5py.Dataset):
        raise HDF5KeyError(
            f"{path} has no dataset {key!r}: available datasets are {list_keys(names)}. Pass "
            "one of them as key= (command line: --key).",
            path=str(path), key=key, keys=names,
        )  # fmt: skip
    return str(key)


def _read_hdf5_volume(path: Path, key: str | None) -> np.ndarray:
    with open_hdf5(path) as handle:
        return read_hdf5_dataset(handle, hdf5_dataset_name(handle, path, key))


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
    FileNotFoundError
        The path does not exist (whatever its suffix).
    ValueError
        Unsupported suffix, wrong dimensionality, missing ``shape`` or wrong size.
    OSError
        Truncated or corrupt file.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if not p.exists():  # before the suffix: a mistyped foo.zarr is missing, not unsupported
        raise FileNotFoundError(f"{p}: no such volume file: the path does not exist.")
    if suffix not in SUPPORTED_SUFFIXES:
        zarr_hint = (
            " A zarr store is read block by block: pass its path to voxpick.locate, or open it "
            "with voxpick.io.source.open_volume."
            if p.is_dir()
            else " Convert the file, e.g. to TIFF."
        )
        raise ValueError(
            f"{p}: unsupported volume suffix {p.suffix!r}: expected one of "
            f"{', '.join(SUPPORTED_SUFFIXES)}.{zarr_hint}"
        )
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such volume file (it is a directory).")
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
