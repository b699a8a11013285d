"""Time series of 3D volumes, (t, z, y, x), read one frame at a time.

:func:`open_frames` takes a 4D numpy, dask or zarr array, a TIFF hyperstack (ImageJ ``TZYX``
or a tifffile 4D TIFF, compressed or not), a ``.npy`` file, an HDF5 file's one dataset (or an
``h5py.Dataset``), a zarr / OME-Zarr store (axes
``t, c, z, y, x`` with one channel), a glob pattern of 3D volume files (``"run/t*.tif"``,
in natural order: ``t2`` before ``t10``) or a list of 3D arrays or files, and returns a
:class:`FrameSeries` that reads frame ``t`` as a numpy array. Nothing is read before it is
asked for.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voxpick.io.source import is_zarr_path, open_volume, zarr_level0

_GLOB_CHARS = re.compile(r"[*?\[]")


class FrameSeries:
    """A (t, z, y, x) time series read one 3D frame at a time.

    Attributes
    ----------
    n_frames : int
        Number of frames.
    shape : tuple of 3 int
        Shape of one frame (z, y, x).
    dtype : numpy.dtype
        Voxel type.
    description : str
        What the series is (for messages and the resume manifest).
    path : str or None
        The file whose calibration (voxel size) holds for the series: the series' own file,
        or the first of its 3D files; ``None`` for arrays.
    """

    def __init__(
        self,
        read: Callable[[int], Any],
        *,
        n_frames: int,
        shape: tuple[int, int, int],
        dtype: Any,
        description: str,
        close: Callable[[], None] | None = None,
        path: str | None = None,
    ) -> None:
        self._read = read
        self._close = close
        self.n_frames = int(n_frames)
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.description = description
        self.path = path

    def read(self, t: int) -> np.ndarray:
        """Read frame ``t`` as a 3D numpy array (z, y, x).

        Parameters
        ----------
        t : int
            Frame index, ``0 <= t < n_frames``.

        Returns
        -------
        numpy.ndarray
        """
        if not 0 <= t < self.n_frames:
            raise IndexError(f"frame {t} is out of range: the series has {self.n_frames} frames.")
        frame = self._read(t)
        if hasattr(frame, "compute"):
            frame = frame.compute()
        frame = np.asarray(frame)
        if frame.shape != self.shape:
            raise ValueError(
                f"frame {t} of {self.description} has shape {frame.shape}: expected "
                f"{self.shape} like the first frame. Every frame of a series must have one shape."
            )
        return frame

    def close(self) -> None:
        """Close the files the series holds open."""
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> FrameSeries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_dtype(dtype: Any, name: str) -> None:
    dt = np.dtype(dtype)
    if not (np.issubdtype(dt, np.integer) or np.issubdtype(dt, np.floating)):
        raise TypeError(
            f"{name} has dtype {dt}: expected integer or floating-point voxels. Convert it, e.g. "
            "frames.astype(numpy.float32)."
        )


def _frame_axes(shape: tuple[int, ...], name: str) -> tuple[int, ...]:
    """Return the axes to index a frame by: t, then 0 for each length-1 axis before z."""
    if len(shape) == 3:
        raise ValueError(
            f"{name} has shape {shape} (3D): expected a time series (t, z, y, x). For one "
            "volume use voxpick.locate (or `voxpick locate`); for a series of 3D files pass a "
            "glob such as 'run/t*.tif' or a list of them."
        )
    if len(shape) < 3:
        raise ValueError(f"{name} has shape {shape}: expected a time series (t, z, y, x).")
    extra = shape[1:-3]
    if any(n != 1 for n in extra):
        raise ValueError(
            f"{name} has shape {shape}: expected (t, z, y, x), or (t, c, z, y, x) with one "
            f"channel; here the axes between t and z have sizes {extra}. Pass one channel, "
            "e.g. frames[:, 0]."
        )
    if min(shape) == 0:
        raise ValueError(f"{name} has shape {shape} and is empty: expected at least one frame.")
    return (0,) * len(extra)


def _array_series(
    array: Any, name: str, *, close: Callable[[], None] | None = None, path: Path | None = None
) -> FrameSeries:
    shape = tuple(int(n) for n in array.shape)
    fill = _frame_axes(shape, name)
    _check_dtype(array.dtype, name)

    def read(t: int) -> Any:
        return array[(t, *fill)]

    return FrameSeries(
        read, n_frames=shape[0], shape=(shape[-3], shape[-2], shape[-1]), dtype=array.dtype,
        description=name, close=close, path=None if path is None else str(path),
    )  # fmt: skip


def _tiff_series(path: Path) -> FrameSeries:
    import tifffile
    import zarr

    try:
        with tifffile.TiffFile(path) as tif:
            axes = str(tif.series[0].axes)
        store = tifffile.imread(path, aszarr=True)
    except Exception as err:  # tifffile raises many types for corrupt input
        raise OSError(
            f"{path}: cannot read as TIFF ({type(err).__name__}: {err}). The file is truncated, "
            "corrupt or not a TIFF; re-create or re-download it."
        ) from err
    array = zarr.open_array(store, mode="r")
    if "C" in axes:
        store.close()
        raise ValueError(
            f"{path} has axes {axes!r} with {array.shape[axes.index('C')]} channels: expected a "
            "one-channel (t, z, y, x) hyperstack. Save one channel, e.g. in Fiji with "
            "Image > Color > Split Channels."
        )
    return _array_series(array, f"{path} (TIFF, axes {axes})", close=store.close, path=path)


def _zarr_series(path: Path) -> FrameSeries:
    array, description = zarr_level0(path)
    return _array_series(array, description, path=path)


def _hdf5_series(path: Path) -> FrameSeries:
    """Read the one dataset of an HDF5 file a frame at a time (the file stays open)."""
    from voxpick.io.volume import HDF5KeyError, hdf5_dataset_name, list_keys, open_hdf5

    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(open_hdf5(path))
        try:
            name = hdf5_dataset_name(handle, path, None)
        except HDF5KeyError as err:
            example = err.keys[0] if err.keys else "data"
            raise ValueError(
                f"{path} holds {len(err.keys)} datasets ({list_keys(err.keys)}): pass the "
                f"series' dataset itself, e.g. batch(h5py.File(path)[{example!r}], ...) "
                f"(command line: voxpick track {path.name} --key {example})."
            ) from None
        series = _array_series(
            handle[name], f"{path} (HDF5 dataset {name!r})", close=stack.pop_all().close, path=path
        )
    return series


def natural_order(paths: Sequence[str]) -> list[str]:
    """Sort file names with their numbers read as numbers: ``t2`` before ``t10``.

    Parameters
    ----------
    paths : sequence of str

    Returns
    -------
    list of str
    """
    return sorted(
        paths, key=lambda s: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s)]
    )


def expand_pattern(pattern: str) -> list[str]:
    """Return the files a glob pattern matches, in natural order (``t2`` before ``t10``).

    Parameters
    ----------
    pattern : str
        E.g. ``"run/t*.tif"``.

    Returns
    -------
    list of str

    Raises
    ------
    FileNotFoundError
        The pattern matches no file.
    """
    files = natural_order(glob.glob(pattern))
    if not files:
        raise FileNotFoundError(
            f"{pattern!r} matches no file: expected a path, or a pattern of 3D volume files "
            "such as 'run/t*.tif'."
        )
    return files


def _file_series(items: Sequence[Any], description: str) -> FrameSeries:
    if not items:
        raise ValueError(f"{description} holds no frames: expected at least one 3D volume.")
    first = open_volume(items[0])
    _check_dtype(first.dtype, str(items[0]))
    for t, item in enumerate(items[1:], start=1):  # headers only: a bad frame fails up front
        shape = open_volume(item).shape
        if shape != first.shape:
            name = item if isinstance(item, str | os.PathLike) else f"frame {t}"
            raise ValueError(
                f"frame {t} ({name}) has shape {shape}: expected {first.shape} like the first "
                "frame. Every frame of a series must have one shape."
            )

    def read(t: int) -> np.ndarray:
        source = first if t == 0 else open_volume(items[t])
        return source.read(tuple(slice(0, n) for n in source.shape))  # type: ignore[arg-type]

    path = str(items[0]) if isinstance(items[0], str | os.PathLike) else None
    return FrameSeries(
        read, n_frames=len(items), shape=first.shape, dtype=first.dtype, description=description,
        path=path,
    )  # fmt: skip


def open_frames(frames: Any) -> FrameSeries:
    """Wrap a time series of 3D volumes for reading one frame at a time.

    Parameters
    ----------
    frames : array_like, dask.array.Array, zarr.Array, str, os.PathLike or sequence
        A 4D array (t, z, y, x), or 5D (t, c, z, y, x) with one channel; the path of a TIFF
        hyperstack, a 4D ``.npy`` file, an HDF5 file holding one dataset or a zarr / OME-Zarr
        store (an ``h5py.Dataset`` is an array: pass it to choose among several); a glob
        pattern of 3D volume files (natural order, so ``t2`` comes before ``t10``); or a list of
        3D arrays or volume files, one per frame.

    Returns
    -------
    FrameSeries

    Raises
    ------
    FileNotFoundError
        A path that does not exist, or a pattern that matches no file.
    ValueError
        Not a time series (a single 3D volume, several channels, frames of different shapes).
    TypeError
        Not an array, a path or a list, or a non-numeric dtype.
    """
    if isinstance(frames, FrameSeries):
        return frames
    if isinstance(frames, str | os.PathLike):
        path = Path(frames)
        if not path.exists() and _GLOB_CHARS.search(str(frames)):
            files = expand_pattern(str(frames))
            return _file_series(files, f"{frames} ({len(files)} files)")
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such time-series file or zarr directory.")
        if is_zarr_path(path):
            return _zarr_series(path)
        if path.is_dir():
            raise ValueError(
                f"{path} is a directory but not a zarr store: pass a glob of its 3D volume "
                f"files instead, e.g. '{path / '*.tif'}'."
            )
        suffix = path.suffix.lower()
        if suffix in (".tif", ".tiff"):
            return _tiff_series(path)
        if suffix == ".npy":
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            return _array_series(array, str(path), path=path)
        if suffix in (".h5", ".hdf5"):
            return _hdf5_series(path)
        raise ValueError(
            f"{path}: unsupported time-series file {path.suffix!r}: expected a TIFF hyperstack, "
            "a .npy or HDF5 file, a zarr store, or a glob of 3D volume files."
        )
    if hasattr(frames, "shape") and hasattr(frames, "dtype") and hasattr(frames, "__getitem__"):
        name = type(frames).__module__.split(".")[0] + " array"
        return _array_series(frames, f"{name} {tuple(frames.shape)}")
    if isinstance(frames, list | tuple):
        return _file_series(list(frames), f"list of {len(frames)} frames")
    raise TypeError(
        f"frames={type(frames).__name__} is not a time series: expected a 4D (t, z, y, x) numpy, "
        "dask or zarr array, a TIFF hyperstack, a zarr store, a glob of 3D files or a list."
    )
