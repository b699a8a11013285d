"""The dataset format of the colloid challenge ("Colloids: how small can we go?").

A dataset is three files in one directory (see ``docs/io.md`` for the exact layout):

- ``x.hdf5``: one 3D uint8 dataset per image, keys ``"0"``, ``"1"``, ...
- ``y.csv``: long table ``image_index,Z,X,Y``, exactly :data:`ROWS_PER_IMAGE` rows per image:
  its particles, then rows with empty Z/X/Y up to the fixed count.
- ``metadata.csv``: one row per image, first column the image index.

``dim_order`` names which CSV column holds array axis 0, 1 and 2. The default ``"ZXY"`` means
column ``Z`` = axis 0 (our z), column ``X`` = axis 1 (our y), column ``Y`` = axis 2 (our x).
"""

from __future__ import annotations

import contextlib
import numbers
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import h5py
import numpy as np
import pandas as pd

from voxpick.io.atomic import atomic_path
from voxpick.io.positions import read_csv_exact
from voxpick.io.volume import open_hdf5, read_hdf5_dataset
from voxpick.validation import check_positions, check_volume

#: Rows per image in ``y.csv``: particles, then empty rows up to this count.
ROWS_PER_IMAGE = 2000
#: Header of ``y.csv``, always in this column order whatever ``dim_order`` is.
Y_COLUMNS: tuple[str, str, str, str] = ("image_index", "Z", "X", "Y")
DEFAULT_DIM_ORDER = "ZXY"


class ChallengeIndexError(IndexError, ValueError):
    """An image index that the dataset does not hold (an ``IndexError`` and a ``ValueError``)."""


def parse_dim_order(dim_order: str) -> tuple[str, str, str]:
    """Validate ``dim_order`` and return the CSV column name for array axes 0, 1, 2.

    Parameters
    ----------
    dim_order : str
        A permutation of the letters ``Z``, ``X``, ``Y`` (case-insensitive). Letter ``k`` names
        the ``y.csv`` column holding the coordinate along array axis ``k``.

    Returns
    -------
    tuple of str
        E.g. ``("Z", "X", "Y")`` for the default ``"ZXY"``.
    """
    if not isinstance(dim_order, str) or sorted(dim_order.upper()) != ["X", "Y", "Z"]:
        raise ValueError(
            f"dim_order={dim_order!r} is not valid: expected a permutation of the letters Z, X, "
            "Y naming the y.csv column that holds array axis 0, 1 and 2. Use the challenge "
            "default 'ZXY' (column X = axis 1, column Y = axis 2) or e.g. 'ZYX'."
        )
    up = dim_order.upper()
    return (up[0], up[1], up[2])


def _check_index(index: Any) -> int:
    if isinstance(index, bool) or not isinstance(index, numbers.Integral) or int(index) < 0:
        raise ChallengeIndexError(
            f"index={index!r} is not valid: expected a non-negative integer image index."
        )
    return int(index)


def _metadata_frame(metadata: pd.DataFrame | Sequence[Mapping[str, Any]], n: int) -> pd.DataFrame:
    if isinstance(metadata, pd.DataFrame):
        frame = metadata.reset_index(drop=True)
    else:
        frame = pd.DataFrame([dict(m) for m in metadata])
    if len(frame) != n:
        raise ValueError(
            f"metadata has {len(frame)} rows but there are {n} volumes: expected one metadata "
            "row per volume, in the same order."
        )
    return frame


class ChallengeDatasetWriter:
    """Stream volumes into a challenge dataset without holding them all in memory.

    Use as a context manager. Each :meth:`add` appends one image to temporary files beside the
    targets; on a clean exit the three files are renamed into place, and if the block raises,
    the temporary files are deleted and existing targets are left untouched.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Directory for the three files (created if needed).
    dim_order : str, default "ZXY"
        See :func:`parse_dim_order`.
    x_name, y_name, metadata_name : str
        File names inside ``out_dir``.
    compression : str or None, default "gzip"
        h5py compression of each volume (lossless; ``None`` stores raw bytes).

    Examples
    --------
    >>> with ChallengeDatasetWriter("data/train") as writer:  # doctest: +SKIP
    ...     for volume, positions, meta in simulations():
    ...         writer.add(volume, positions, meta)
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        dim_order: str = DEFAULT_DIM_ORDER,
        x_name: str = "x.hdf5",
        y_name: str = "y.csv",
        metadata_name: str = "metadata.csv",
        compression: str | None = "gzip",
    ) -> None:
        self.out_dir = Path(out_dir)
        self.columns = parse_dim_order(dim_order)
        self.paths = {
            "x": self.out_dir / x_name,
            "y": self.out_dir / y_name,
            "metadata": self.out_dir / metadata_name,
        }
        self.compression = compression
        self._metadata: list[dict[str, Any]] = []
        self._stack: contextlib.ExitStack | None = None
        self._tmp: dict[str, Path] = {}
        self._h5: h5py.File | None = None
        self._y: TextIO | None = None
        self._created_dir = False
        self._frame: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self._metadata)

    def __enter__(self) -> ChallengeDatasetWriter:
        if self._stack is not None:
            raise RuntimeError("ChallengeDatasetWriter is already open; use it in one `with`.")
        self._created_dir = not self.out_dir.exists()
        stack = contextlib.ExitStack()
        try:
            # Temporary files first, open handles after: handles close before the renames.
            for name, path in self.paths.items():
                self._tmp[name] = stack.enter_context(atomic_path(path))
            self._h5 = stack.enter_context(h5py.File(self._tmp["x"], "w"))
            self._y = stack.enter_context(open(self._tmp["y"], "w", newline="", encoding="utf-8"))
            pd.DataFrame(columns=list(Y_COLUMNS)).to_csv(self._y, index=False, lineterminator="\n")
        except BaseException:
            stack.close()
            self._cleanup_dir()
            raise
        self._stack = stack
        return self

    def add(self, volume: Any, positions: Any, metadata: Mapping[str, Any] | None = None) -> int:
        """Append one image.

        Parameters
        ----------
        volume : array_like
            3D uint8 volume, axes (z, y, x).
        positions : array_like or pandas.DataFrame
            ``(N, 3)`` particle centres in (z, y, x) voxels, ``N <= 2000``.
        metadata : mapping, optional
            This image's metadata row (e.g. volfrac, r, SNR, ...).

        Returns
        -------
        int
            The image index given to this image.
        """
        if self._stack is None or self._h5 is None or self._y is None:
            raise RuntimeError("ChallengeDatasetWriter.add() must be called inside `with`.")
        index = len(self._metadata)
        vol = check_volume(volume, name=f"volumes[{index}]")
        if vol.dtype != np.uint8:
            raise TypeError(
                f"volumes[{index}] has dtype {vol.dtype}: the challenge format stores uint8 "
                "voxels. Convert first, e.g. numpy.clip(volume, 0, 255).astype(numpy.uint8)."
            )
        pos = check_positions(positions, name=f"positions[{index}]")
        if len(pos) > ROWS_PER_IMAGE:
            raise ValueError(
                f"positions[{index}] has {len(pos)} particles: the challenge y.csv holds at most "
                f"{ROWS_PER_IMAGE} per image. Write this data with voxpick.io.write_positions "
                "(one positions CSV per volume) instead."
            )
        if metadata is not None and not isinstance(metadata, Mapping):
            raise TypeError(
                f"metadata for image {index} is a {type(metadata).__name__}: expected a dict."
            )
        rows: dict[str, np.ndarray] = {"image_index": np.full(ROWS_PER_IMAGE, index)}
        for letter in Y_COLUMNS[1:]:
            column = np.full(ROWS_PER_IMAGE, np.nan)
            column[: len(pos)] = pos[:, self.columns.index(letter)]
            rows[letter] = column
        self._h5.create_dataset(str(index), data=vol, compression=self.compression)
        pd.DataFrame(rows).to_csv(self._y, header=False, index=False, lineterminator="\n")
        self._metadata.append(dict(metadata or {}))
        return index

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        self._h5 = self._y = None
        if exc is None:
            try:
                frame = self._frame
                if frame is None:
                    frame = pd.DataFrame(self._metadata, index=pd.RangeIndex(len(self._metadata)))
                frame.to_csv(self._tmp["metadata"], lineterminator="\n")
            except BaseException as err:
                stack.__exit__(type(err), err, err.__traceback__)
                self._cleanup_dir()
                raise
            stack.close()
            return
        stack.__exit__(exc_type, exc, tb)
        self._cleanup_dir()

    def _cleanup_dir(self) -> None:
        if self._created_dir:
            with contextlib.suppress(OSError):
                self.out_dir.rmdir()


def write_challenge_dataset(
    out_dir: str | os.PathLike[str],
    volumes: Sequence[Any],
    positions: Sequence[Any],
    metadata: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    dim_order: str = DEFAULT_DIM_ORDER,
    x_name: str = "x.hdf5",
    y_name: str = "y.csv",
    metadata_name: str = "metadata.csv",
    compression: str | None = "gzip",
) -> dict[str, Path]:
    """Write a whole challenge dataset (x HDF5, y CSV, metadata CSV) atomically.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Directory for the three files (created if needed).
    volumes : sequence of array_like
        3D uint8 volumes, axes (z, y, x).
    positions : sequence of array_like
        One ``(N_i, 3)`` array of (z, y, x) particle centres per volume, ``N_i <= 2000``.
    metadata : pandas.DataFrame or sequence of dict
        One row per volume, in order (a DataFrame's own index is replaced by 0..n-1).
    dim_order, x_name, y_name, metadata_name, compression
        As for :class:`ChallengeDatasetWriter`.

    Returns
    -------
    dict of str to pathlib.Path
        Keys ``"x"``, ``"y"``, ``"metadata"``.
    """
    if len(volumes) != len(positions):
        raise ValueError(
            f"got {len(volumes)} volumes but {len(positions)} position arrays: expected one "
            "(N, 3) position array per volume (use an empty array for an image without particles)."
        )
    frame = _metadata_frame(metadata, len(volumes))
    names = {"x_name": x_name, "y_name": y_name, "metadata_name": metadata_name}
    writer = ChallengeDatasetWriter(out_dir, dim_order=dim_order, compression=compression, **names)
    writer._frame = frame  # keeps the caller's column dtypes exactly
    with writer:
        for vol, pos in zip(volumes, positions, strict=True):
            writer.add(vol, pos)
    return dict(writer.paths)


def _missing_index(path: Path, index: int, available: Sequence[int], what: str) -> Exception:
    n = len(available)
    held = f"indices {min(available)} to {max(available)}" if n else "no images"
    return ChallengeIndexError(
        f"{path}: no {what} with index {index}: the file holds {n} images ({held}). "
        "Use an index in that range."
    )


def _hdf5_indices(handle: h5py.File) -> list[int]:
    return sorted(int(k) for k in handle.keys() if k.isdigit())


def read_challenge_volume(x_path: str | os.PathLike[str], index: int) -> np.ndarray:
    """Read volume ``index`` (dataset ``str(index)``) from the challenge x HDF5 file.

    Parameters
    ----------
    x_path : str or os.PathLike
        The x HDF5 file.
    index : int
        Image index.

    Returns
    -------
    numpy.ndarray
        The 3D volume, bit-identical to what was written.

    Raises
    ------
    ChallengeIndexError
        No dataset ``str(index)`` (an ``IndexError`` and ``ValueError``).
    OSError
        Truncated or corrupt file.
    """
    idx = _check_index(index)
    path = Path(x_path)
    with open_hdf5(path) as handle:
        if str(idx) not in handle:
            raise _missing_index(path, idx, _hdf5_indices(handle), "volume")
        volume = read_hdf5_dataset(handle, str(idx))
    if volume.ndim != 3:
        raise ValueError(
            f"{path}: dataset {str(idx)!r} has shape {volume.shape}: expected a 3D volume. "
            "The file is not in the challenge format."
        )
    return volume


def _read_y_table(y_path: str | os.PathLike[str]) -> pd.DataFrame:
    path = Path(y_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such y CSV file.")
    try:
        table = read_csv_exact(path)
    except (ValueError, OSError) as err:  # pandas ParserError/EmptyDataError are ValueErrors
        raise ValueError(f"{path}: cannot read as CSV ({err}). Is it truncated?") from err
    missing = [c for c in Y_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"{path} is missing columns {missing}: the challenge y CSV has header "
            f"{','.join(Y_COLUMNS)} (found {list(table.columns)})."
        )
    for col in Y_COLUMNS:
        values = pd.to_numeric(table[col], errors="coerce")
        if (values.isna() & table[col].notna()).any():
            raise ValueError(f"{path}: column {col!r} holds non-numeric values.")
        table[col] = values
    if table["image_index"].isna().any() or (table["image_index"] % 1 != 0).any():
        raise ValueError(f"{path}: column 'image_index' has empty or non-integer values.")
    table["image_index"] = table["image_index"].astype(np.int64)
    return table


def _positions_from_table(
    table: pd.DataFrame, rows: np.ndarray, columns: tuple[str, str, str], path: Path, index: int
) -> np.ndarray:
    if len(rows) != ROWS_PER_IMAGE:
        raise ValueError(
            f"{path}: image {index} has {len(rows)} rows but the challenge format pads every "
            f"image to exactly {ROWS_PER_IMAGE}. The file may be truncated; for plain position "
            "tables use voxpick.io.read_positions."
        )
    coords = table.iloc[rows][list(columns)].to_numpy(dtype=np.float64)
    empty = np.isnan(coords)
    partial = np.flatnonzero(empty.any(axis=1) & ~empty.all(axis=1))
    if partial.size:
        raise ValueError(
            f"{path}: image {index} has {partial.size} rows with only some of Z, X, Y filled "
            f"(CSV line {int(rows[partial[0]]) + 2}): each row must be a full position or empty. "
            "The file may be truncated or corrupt."
        )
    pos = coords[~empty.all(axis=1)]
    return check_positions(pos, name=f"{path} image {index}")


def read_challenge_positions(
    y_path: str | os.PathLike[str], index: int, *, dim_order: str = DEFAULT_DIM_ORDER
) -> np.ndarray:
    """Read the particle positions of image ``index`` from the challenge y CSV.

    Parameters
    ----------
    y_path : str or os.PathLike
        The y CSV file (``image_index,Z,X,Y``).
    index : int
        Image index.
    dim_order : str, default "ZXY"
        See :func:`parse_dim_order`.

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` float64 positions in (z, y, x) = array axes (0, 1, 2); padding rows dropped.
    """
    columns = parse_dim_order(dim_order)
    idx = _check_index(index)
    path = Path(y_path)
    table = _read_y_table(path)
    groups = table.groupby("image_index").indices
    if idx not in groups:
        raise _missing_index(path, idx, list(groups), "positions")
    return _positions_from_table(table, groups[idx], columns, path, idx)


def read_challenge_metadata(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the challenge metadata CSV (first column = image index).

    Parameters
    ----------
    path : str or os.PathLike
        The metadata CSV.

    Returns
    -------
    pandas.DataFrame
        One row per image, indexed by image index, all columns as written.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such metadata CSV file.")
    try:
        return read_csv_exact(p, index_col=0)
    except (ValueError, OSError) as err:
        raise ValueError(f"{p}: cannot read as CSV ({err}). Is it truncated?") from err


def _python_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class ChallengeDataset:
    """Lazy, indexable view of a challenge dataset directory.

    ``dataset[i]`` reads volume ``i`` from the HDF5 file on demand; the y and metadata CSVs are
    parsed once, on first access.

    Parameters
    ----------
    root_dir : str or os.PathLike
        Directory holding the files.
    dim_order : str, default "ZXY"
        See :func:`parse_dim_order`.
    x_name, y_name, metadata_name : str
        File names inside ``root_dir``; a missing metadata file gives empty metadata dicts.
    """

    def __init__(
        self,
        root_dir: str | os.PathLike[str],
        *,
        dim_order: str = DEFAULT_DIM_ORDER,
        x_name: str = "x.hdf5",
        y_name: str = "y.csv",
        metadata_name: str = "metadata.csv",
    ) -> None:
        self.root = Path(root_dir)
        self.columns = parse_dim_order(dim_order)
        self.x_path = self.root / x_name
        self.y_path = self.root / y_name
        self.metadata_path = self.root / metadata_name
        for p in (self.x_path, self.y_path):
            if not p.is_file():
                raise FileNotFoundError(
                    f"{p}: no such file. A challenge dataset directory holds {x_name} and "
                    f"{y_name} (and optionally {metadata_name}); check root_dir and the names."
                )
        with open_hdf5(self.x_path) as handle:
            self._n = len(_hdf5_indices(handle))
        self._table: pd.DataFrame | None = None
        self._groups: dict[int, np.ndarray] = {}
        self._metadata: pd.DataFrame | None = None

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Return ``(volume, positions, metadata)`` of image ``index`` (negative counts back)."""
        if isinstance(index, numbers.Integral) and not isinstance(index, bool) and index < 0:
            index = int(index) + self._n
        idx = _check_index(index)
        if idx >= self._n:
            raise _missing_index(self.x_path, idx, range(self._n), "image")
        volume = read_challenge_volume(self.x_path, idx)
        if self._table is None:
            self._table = _read_y_table(self.y_path)
            self._groups = dict(self._table.groupby("image_index").indices)
        if idx not in self._groups:
            raise _missing_index(self.y_path, idx, list(self._groups), "positions")
        positions = _positions_from_table(
            self._table, self._groups[idx], self.columns, self.y_path, idx
        )
        return volume, positions, self._metadata_row(idx)

    def _metadata_row(self, idx: int) -> dict[str, Any]:
        if self._metadata is None:
            if not self.metadata_path.is_file():
                self._metadata = pd.DataFrame()
            else:
                self._metadata = read_challenge_metadata(self.metadata_path)
        if idx not in self._metadata.index:
            return {}
        row = self._metadata.index.get_loc(idx)
        return {str(c): _python_scalar(self._metadata[c].iat[row]) for c in self._metadata.columns}
