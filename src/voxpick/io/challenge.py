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
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import h5py
import numpy as np
import pandas as pd

from voxpick.io.atomic import atomic_path
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
