"""Per-block results on disk, so that an interrupted chunked run resumes where it stopped.

Beside the output ``OUT`` (``.csv`` or ``.parquet``) the run keeps a directory ``OUT.parts/``
with a ``manifest.json`` (everything that determines the per-block results: input, shape,
blocks, detector, its options and estimated parameters, voxpick version) and one file per
finished block, named after the block's grid index, that also records a hash of the voxels it
was computed from and a hash of its own rows. Every file is written to a temporary name,
flushed to disk and moved into place (``os.replace``), so a part is complete or absent even
when the run is killed mid-write.

A rerun with the same output and the same manifest reuses a part only when it reads back, its
rows hash as written (a damaged file is computed again) and its block's voxels still hash the
same (an edited region is computed again); a different manifest, or parts without a
manifest, are refused (they would mix results of two runs).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpick.io.atomic import atomic_path
from voxpick.io.positions import read_positions, write_positions

MANIFEST = "manifest.json"

#: ``attrs`` key of a part that holds the hash of its block's voxels.
INPUT_HASH = "input_sha1"

#: ``attrs`` key of a part that holds the hash of its own rows (a damaged file is recomputed).
TABLE_HASH = "table_sha1"


def table_digest(table: pd.DataFrame) -> str:
    """Hash of a table's columns and values, the same after a CSV or Parquet round trip.

    Parameters
    ----------
    table : pandas.DataFrame

    Returns
    -------
    str
    """
    text = table.to_csv(index=False, lineterminator="\n")  # floats as repr: exact
    return hashlib.sha1(text.encode()).hexdigest()


def block_digest(block: np.ndarray) -> str:
    """Hash of a block's voxels, shape and dtype (what a part was computed from).

    Parameters
    ----------
    block : numpy.ndarray

    Returns
    -------
    str
    """
    arr = np.ascontiguousarray(block)
    h = hashlib.sha1(f"{arr.shape}{arr.dtype.str}".encode())
    h.update(arr.data.cast("B"))
    return h.hexdigest()


def _jsonable(value: Any) -> Any:
    """Plain JSON types for the manifest (tuples become lists, numpy scalars floats)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def parts_dir_for(out: str | os.PathLike[str]) -> Path:
    """Directory of the per-block parts of the output ``out``: ``OUT.parts`` beside it.

    Parameters
    ----------
    out : str or os.PathLike
        Final output path.

    Returns
    -------
    pathlib.Path
    """
    p = Path(out)
    return p.with_name(p.name + ".parts")


class PartStore:
    """The ``OUT.parts`` directory of one chunked run.

    Parameters
    ----------
    directory : str or os.PathLike
        The parts directory (created if needed).
    manifest : dict
        What determines the block results; must match an existing manifest.

    Raises
    ------
    ValueError
        The directory holds parts of a run with a different manifest, or parts without one.
    """

    def __init__(self, directory: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
        self.directory = Path(directory)
        self.suffix = ".parquet" if importlib.util.find_spec("pyarrow") else ".csv"
        self.manifest = _jsonable({**manifest, "part_format": self.suffix})
        path = self.directory / MANIFEST
        if path.exists():
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError):
                old = None
            if old != self.manifest:
                differs = sorted(
                    k
                    for k in set(self.manifest) | set(old or {})
                    if (old or {}).get(k) != self.manifest.get(k)
                )
                raise ValueError(
                    f"{self.directory} holds block results of a different run (it differs in "
                    f"{differs or 'an unreadable manifest'}): expected the parts of this same "
                    "run to resume it. Delete the directory to start afresh, or choose another "
                    "output path."
                )
        else:
            if self.directory.is_dir() and any(self.directory.glob("b*")):
                raise ValueError(
                    f"{self.directory} holds block results but no {MANIFEST}: they may belong to "
                    "another run (an interrupted start, or two runs at once). Delete the "
                    "directory to start afresh, or choose another output path."
                )
            self.directory.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps(self.manifest, indent=1, sort_keys=True) + "\n")
        for part in self.directory.glob(".*.part"):  # killed mid-write (the run holds the lock)
            part.unlink(missing_ok=True)

    def path(self, name: str) -> Path:
        """File of the block called ``name``."""
        return self.directory / f"{name}{self.suffix}"

    def has(self, name: str) -> bool:
        """Whether a part file exists for the block called ``name``."""
        return self.path(name).is_file()

    def write(
        self,
        name: str,
        table: pd.DataFrame,
        *,
        input_hash: str,
        attrs: dict[str, Any] | None = None,
    ) -> Path:
        """Write one block's detections atomically, with the hash of its voxels.

        Parameters
        ----------
        name : str
            Block name.
        table : pandas.DataFrame
            Its detections (z, y, x first).
        input_hash : str
            :func:`block_digest` of the voxels they were computed from.
        attrs : dict, optional
            More to keep with the part (JSON types); :meth:`load` and :meth:`read` return it as
            the table's ``attrs``.

        Returns
        -------
        pathlib.Path
        """
        out = table.copy()
        out.attrs.clear()
        out.attrs.update(attrs or {})
        out.attrs[INPUT_HASH] = input_hash
        out.attrs[TABLE_HASH] = table_digest(out)
        return write_positions(self.path(name), out)

    def load(self, name: str, *, input_hash: str) -> pd.DataFrame | None:
        """One block's detections, if its part reads back and was computed from these voxels.

        A part that is unreadable (truncated, empty), damaged (its rows no longer hash as
        written) or stale (the block's voxels changed since) is deleted, so that the block is
        computed again.

        Parameters
        ----------
        name : str
            Block name.
        input_hash : str
            :func:`block_digest` of the block's voxels now.

        Returns
        -------
        pandas.DataFrame or None
        """
        path = self.path(name)
        try:
            table = read_positions(path)
        except (ValueError, OSError):
            table = None
        if (
            table is None
            or table.attrs.get(INPUT_HASH) != input_hash
            or table.attrs.get(TABLE_HASH) != table_digest(table)
        ):
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".json").unlink(missing_ok=True)
            return None
        table.attrs.pop(INPUT_HASH, None)
        table.attrs.pop(TABLE_HASH, None)
        return table

    def read(self, name: str) -> pd.DataFrame:
        """Read back the part this run wrote for the block called ``name``.

        Raises
        ------
        ValueError
            The part no longer hashes as written (damaged on disk during the run).
        """
        path = self.path(name)
        table = read_positions(path)
        if table.attrs.get(TABLE_HASH) != table_digest(table):
            raise ValueError(
                f"{path} was damaged after this run wrote it (its rows no longer match their "
                "hash): check the disk, then run again (the block is computed afresh)."
            )
        table.attrs.pop(INPUT_HASH, None)
        table.attrs.pop(TABLE_HASH, None)
        return table

    def remove(self) -> None:
        """Delete the parts directory (after the final output is written)."""
        shutil.rmtree(self.directory, ignore_errors=True)
