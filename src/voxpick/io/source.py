"""Volumes that need not fit in memory: numpy, dask and zarr arrays, TIFF / zarr / OME-Zarr paths.

:func:`open_volume` wraps any of them in a :class:`VolumeSource`, which knows the shape and the
dtype and reads one box at a time as a numpy array. Sources are small and picklable (a zarr
array or a file name, not the voxels), so the tasks of a ``dask.distributed`` cluster can read
their own blocks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

_Slices = tuple[slice, slice, slice]


class VolumeSource:
    """A 3D (z, y, x) volume read box by box.

    Attributes
    ----------
    shape : tuple of 3 int
        Volume shape.
    dtype : numpy.dtype
        Voxel type.
    description : str
        What the volume is (for messages and the resume manifest).
    array : object
        The underlying array (numpy, dask, zarr or memory map), or ``None`` for file sources.
    """

    def __init__(self, array: Any, *, description: str, lead: int = 0) -> None:
        self.array = array
        self.lead = lead
        shape = tuple(int(n) for n in array.shape[lead:])
        self.shape: tuple[int, int, int] = (shape[0], shape[1], shape[2])
        self.dtype = np.dtype(array.dtype)
        self.description = description

    @property
    def is_dask(self) -> bool:
        """Whether the volume is a dask array (its blocks come out of the dask graph)."""
        return _is_dask(self.array)

    def lazy_block(self, slices: _Slices) -> Any:
        """Return the box as stored: a dask array stays lazy, anything else is read."""
        key = (0,) * self.lead + tuple(slices)
        return self.array[key]

    def read(self, slices: _Slices) -> np.ndarray:
        """Read one box as a numpy array.

        Parameters
        ----------
        slices : tuple of 3 slice
            The box, (z, y, x).

        Returns
        -------
        numpy.ndarray
        """
        block = self.lazy_block(slices)
        if _is_dask(block):
            block = block.compute()
        return np.asarray(block)


class MemmapSource(VolumeSource):
    """An uncompressed volume file (``.npy``, uncompressed TIFF) read through a memory map.

    Only the file name, offset, shape and dtype are pickled, never the voxels.
    """

    def __init__(
        self, filename: str, *, offset: int, shape: tuple[int, int, int], dtype: Any, order: str
    ) -> None:
        self.filename = filename
        self.offset = int(offset)
        self.order = order
        self.lead = 0
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.description = filename
        self.array = None

    @property
    def is_dask(self) -> bool:
        """Always ``False``: a memory map is read directly."""
        return False

    def lazy_block(self, slices: _Slices) -> Any:
        """Read the box (a copy, so the file can be closed)."""
        order: Literal["C", "F"] = "F" if self.order == "F" else "C"
        mm = np.memmap(
            self.filename,
            dtype=self.dtype,
            mode="r",
            offset=self.offset,
            shape=self.shape,
            order=order,
        )
        return np.array(mm[slices])


def _is_dask(obj: Any) -> bool:
    try:
        import dask.array as da
    except ImportError:  # pragma: no cover - dask is a dependency
        return False
    return isinstance(obj, da.Array)


def _check_3d(shape: tuple[int, ...], dtype: Any, *, name: str) -> int:
    """Count the leading length-1 axes to drop so the volume is 3D; raise if it cannot be."""
    lead = 0
    while len(shape) - lead > 3 and shape[lead] == 1:
        lead += 1
    if len(shape) - lead != 3:
        raise ValueError(
            f"{name} has shape {shape} ({len(shape)}D): expected a 3D array (z, y, x) (leading "
            "axes of length 1, e.g. t and c of OME-Zarr, are dropped). Pass one 3D volume; for "
            "a time series (t, z, y, x) use voxpick.batch or `voxpick track`."
        )
    if min(shape) == 0:
        raise ValueError(f"{name} has shape {shape} and is empty: expected a non-empty volume.")
    dt = np.dtype(dtype)
    if not (np.issubdtype(dt, np.integer) or np.issubdtype(dt, np.floating)):
        raise TypeError(
            f"{name} has dtype {dt}: expected integer or floating-point voxels. Convert it, e.g. "
            "volume.astype(numpy.float32)."
        )
    return lead


def _ome_level0(group: Any, path: Path) -> tuple[Any, str]:
    """Find the full-resolution array of an OME-Zarr group (or a plain group's only array)."""
    attrs = dict(group.attrs)
    multiscales = attrs.get("multiscales") or dict(attrs.get("ome") or {}).get("multiscales")
    if multiscales:
        try:
            level0 = multiscales[0]["datasets"][0]["path"]
        except (KeyError, IndexError, TypeError):
            raise ValueError(
                f"{path}: the OME-Zarr 'multiscales' metadata has no datasets[0].path: expected "
                "the OME-NGFF layout. Open the full-resolution array yourself and pass it."
            ) from None
        return group[level0], f"{path} (OME-Zarr level {level0!r})"
    arrays = sorted(name for name, _ in group.arrays())
    if len(arrays) != 1:
        raise ValueError(
            f"{path} is a zarr group with {len(arrays)} arrays {arrays[:10]} and no OME-Zarr "
            "'multiscales' metadata: expected one array. Pass the array's own path, e.g. "
            f"{path / (arrays[0] if arrays else 'data')}."
        )
    return group[arrays[0]], f"{path}/{arrays[0]}"


def zarr_level0(path: Path) -> tuple[Any, str]:
    """Open a zarr array, a group with one array, or an OME-Zarr image's full resolution.

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    array : zarr.Array
    description : str
        What was opened, for messages.
    """
    import zarr

    try:
        node = zarr.open(str(path), mode="r")
    except Exception as err:  # zarr raises several types for a non-zarr directory
        raise ValueError(
            f"{path}: cannot open as zarr ({type(err).__name__}: {err}). Expected a zarr array, "
            "a zarr group with one array, or an OME-Zarr image."
        ) from err
    if isinstance(node, zarr.Group):
        return _ome_level0(node, path)
    return node, str(path)


def _open_zarr(path: Path) -> VolumeSource:
    array, description = zarr_level0(path)
    lead = _check_3d(tuple(array.shape), array.dtype, name=description)
    return VolumeSource(array, description=description, lead=lead)


def _open_tiff(path: Path) -> VolumeSource:
    import tifffile

    try:
        mm: Any = tifffile.memmap(str(path), mode="r")
    except ValueError:
        # compressed or non-contiguous TIFF: no memory map, read it whole
        from voxpick.io import read_volume

        arr = read_volume(path)
        return VolumeSource(arr, description=str(path))
    shape = tuple(int(n) for n in mm.shape)
    lead = _check_3d(shape, mm.dtype, name=str(path))
    if lead:
        mm = mm.reshape(shape[lead:])
    source = MemmapSource(
        str(path), offset=int(mm.offset), shape=mm.shape, dtype=mm.dtype, order="C"
    )
    del mm
    return source


def _open_npy(path: Path) -> VolumeSource:
    mm = np.load(path, mmap_mode="r", allow_pickle=False)
    _check_3d(mm.shape, mm.dtype, name=str(path))
    order = "F" if (mm.flags.f_contiguous and not mm.flags.c_contiguous) else "C"
    return MemmapSource(
        str(path), offset=int(mm.offset), shape=mm.shape, dtype=mm.dtype, order=order
    )


def is_zarr_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a zarr store directory (v2 or v3, array or group, OME-Zarr too).

    Parameters
    ----------
    path : str or os.PathLike
        Candidate path.

    Returns
    -------
    bool
    """
    p = Path(path)
    if not p.is_dir():
        return False
    markers = ("zarr.json", ".zarray", ".zgroup")
    return p.suffix.lower() == ".zarr" or any((p / m).exists() for m in markers)


def open_volume(volume: Any) -> VolumeSource:
    """Wrap a volume of any size for block-by-block reading.

    Parameters
    ----------
    volume : array_like, dask.array.Array, zarr.Array, str or os.PathLike
        A numpy array, a dask array, a zarr array (or anything indexable with ``shape`` and
        ``dtype``), or a path: a zarr store directory (an array, a group with one array, or an
        OME-Zarr image, whose full-resolution level 0 is used), a TIFF or ``.npy`` file (memory
        mapped when uncompressed), or any other file :func:`voxpick.io.read_volume` reads
        (loaded whole). Leading axes of length 1 are dropped; axes are (z, y, x).

    Returns
    -------
    VolumeSource

    Raises
    ------
    ValueError
        Not 3D, empty, or a zarr group without a single image.
    TypeError
        Not an array or a path, or a non-numeric dtype.
    """
    if isinstance(volume, VolumeSource):
        return volume
    if isinstance(volume, str | os.PathLike):
        path = Path(volume)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such volume file or zarr directory.")
        if is_zarr_path(path):
            return _open_zarr(path)
        suffix = path.suffix.lower()
        if suffix in (".tif", ".tiff"):
            return _open_tiff(path)
        if suffix == ".npy":
            return _open_npy(path)
        from voxpick.io import read_volume

        return VolumeSource(read_volume(path), description=str(path))
    if hasattr(volume, "shape") and hasattr(volume, "dtype") and hasattr(volume, "__getitem__"):
        name = type(volume).__module__.split(".")[0] + " array"
        lead = _check_3d(tuple(volume.shape), volume.dtype, name=f"volume ({name})")
        return VolumeSource(volume, description=f"{name} {tuple(volume.shape)}", lead=lead)
    if isinstance(volume, list | tuple):
        arr = np.asarray(volume)
        _check_3d(arr.shape, arr.dtype, name="volume")
        return VolumeSource(arr, description=f"array {arr.shape}")
    raise TypeError(
        f"volume={type(volume).__name__} is not a volume: expected a 3D numpy, dask or zarr "
        "array, or the path of a zarr directory, OME-Zarr image, TIFF or .npy file."
    )


def central_box(shape: tuple[int, ...], edge: int) -> tuple[slice, slice, slice]:
    """Return the central box of a volume, at most ``edge`` voxels per axis.

    Parameters
    ----------
    shape : tuple of int
        Volume shape (z, y, x).
    edge : int
        Largest edge of the box.

    Returns
    -------
    tuple of 3 slice
    """
    box = [slice(max(0, (n - edge) // 2), max(0, (n - edge) // 2) + min(n, edge)) for n in shape]
    return (box[0], box[1], box[2])
