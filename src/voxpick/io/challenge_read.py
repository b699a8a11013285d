"""Reading the colloid challenge's dataset format (see :mod:`voxpick.io.challenge`)."""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from voxpick.io.challenge import (
    DEFAULT_DIM_ORDER,
    ROWS_PER_IMAGE,
    Y_COLUMNS,
    ChallengeIndexError,
    _check_index,
    parse_dim_order,
)
from voxpick.io.positions import read_csv_exact
from voxpick.io.volume import open_hdf5, read_hdf5_dataset
from voxpick.validation import check_positions


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


def _group_rows(table: pd.DataFrame) -> dict[int, np.ndarray]:
    """Row numbers of every image index of a y table."""
    indices: dict[Any, Any] = table.groupby("image_index").indices
    return {int(k): np.asarray(v) for k, v in indices.items()}


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
    groups = _group_rows(table)
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
            self._groups = _group_rows(self._table)
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
        row = self._metadata.loc[idx]
        if isinstance(row, pd.DataFrame):  # duplicated index: the first row wins
            row = row.iloc[0]
        return {str(c): _python_scalar(row[c]) for c in self._metadata.columns}
