"""Per-block results on disk, so that an interrupted chunked run resumes where it stopped.

Beside the output ``OUT`` (``.csv`` or ``.parquet``) the run keeps a directory ``OUT.parts/``
with a ``manifest.json`` (everything that determines the per-block results: input, shape,
blocks, method and its resolved arguments) and one file per finished block, named after the
block's grid index. Every file is written to a temporary name and moved into place
(``os.replace``), so a part is complete or absent even when the run is killed mid-write. A rerun
with the same output and the same manifest skips the blocks whose part exists; a different
manifest is refused (it would mix results of two runs).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from voxpick.io.atomic import atomic_path
from voxpick.io.positions import read_csv_exact, write_positions

MANIFEST = "manifest.json"


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
        The directory holds parts of a run with a different manifest.
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
            self.directory.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps(self.manifest, indent=1, sort_keys=True) + "\n")

    def path(self, name: str) -> Path:
        """File of the block called ``name``."""
        return self.directory / f"{name}{self.suffix}"

    def done(self, name: str) -> bool:
        """Whether the block called ``name`` has finished (its part exists)."""
        return self.path(name).is_file()

    def write(self, name: str, table: pd.DataFrame) -> Path:
        """Write one block's detections atomically.

        Parameters
        ----------
        name : str
            Block name.
        table : pandas.DataFrame
            Its detections (z, y, x first).

        Returns
        -------
        pathlib.Path
        """
        return write_positions(self.path(name), table)

    def read(self, name: str) -> pd.DataFrame:
        """Read one block's detections back (exactly as written)."""
        path = self.path(name)
        if self.suffix == ".parquet":
            return pd.read_parquet(path)
        return read_csv_exact(path)

    def remove(self) -> None:
        """Delete the parts directory (after the final output is written)."""
        shutil.rmtree(self.directory, ignore_errors=True)
