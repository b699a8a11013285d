"""The napari reader of voxpick tables: detections (CSV/Parquet) and cryo-ET picks.

:func:`get_reader` is the reader command of the plugin's manifest: napari calls it with the
path(s) a user opens, and it returns :func:`read_tables` for the tables it knows (judged by their
columns alone, read without the rows) or None, so that napari tries its other readers. Both are
plain functions of paths; neither needs napari, Qt or a viewer.

Which table is which:

=====================================================  ===================================
columns                                                layers
=====================================================  ===================================
``particle_type`` and ``experiment`` (CZII CSV)        one per class (and experiment),
                                                       positions and sizes in Angstrom
``particle_type`` (a :func:`voxpick.cryoet.pick`       one per class, voxels; sizes from
table written by :func:`voxpick.io.write_positions`)   ``attrs["voxel_size"]`` (Angstrom)
``z, y, x`` (a detection table)                        one, voxels; size from
                                                       ``attrs["diameter_px"]``
=====================================================  ===================================
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from voxpick.io.czii_csv import read_submission
from voxpick.io.positions import read_positions
from voxpick.napari.layers import LayerData, detections_layer, picks_layers

__all__ = ["MANIFEST", "get_reader", "read_tables", "table_kind"]

#: The plugin's npe2 manifest, shipped in this package.
MANIFEST = str(Path(__file__).with_name("napari.yaml"))

_SUFFIXES = (".csv", ".parquet", ".pq")
PathOrPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def _columns(path: Path) -> list[str]:
    """Column names of a CSV or Parquet table, without reading its rows."""
    if path.suffix.lower() == ".csv":
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def table_kind(path: str | os.PathLike[str]) -> str | None:
    """Tell which voxpick table a file holds, from its suffix and column names.

    Parameters
    ----------
    path : str or os.PathLike
        A file.

    Returns
    -------
    str or None
        ``"czii"`` (picks in Angstrom: ``particle_type`` and ``experiment`` columns),
        ``"picks"`` (``particle_type`` and ``z, y, x`` in voxels), ``"detections"``
        (``z, y, x`` in any case) or None: not a ``.csv``/``.parquet`` file, unreadable, or
        without those columns.
    """
    p = Path(path)
    if p.suffix.lower() not in _SUFFIXES or not p.is_file():
        return None
    try:
        columns = _columns(p)
    except (ValueError, OSError, ImportError):
        return None
    lower = {c.lower() for c in columns}
    if not {"z", "y", "x"} <= lower:
        return None
    if "particle_type" in columns:
        return "czii" if "experiment" in columns else "picks"
    return "detections"


def _read_one(path: Path) -> list[LayerData]:
    kind = table_kind(path)
    stem = path.name.removesuffix(path.suffix)
    if kind == "czii":
        return picks_layers(read_submission(path), name=stem)
    if kind == "picks":
        table = read_positions(path)
        voxel_size = table.attrs.get("voxel_size")
        # without the voxel size the CZII radii (Angstrom) cannot become voxels: default sizes
        radius: dict[str, float] | None = None if voxel_size is not None else {}
        return picks_layers(table, voxel_size=voxel_size, radius_A=radius, name=stem)
    if kind == "detections":
        return [detections_layer(read_positions(path), name=stem)]
    raise ValueError(
        f"{path}: not a voxpick table: expected a .csv or .parquet file with columns z, y, x "
        "(detections) or particle_type, z, y, x (cryo-ET picks)."
    )


def read_tables(path: PathOrPaths) -> list[LayerData]:
    """Read voxpick tables as napari Points layer data.

    Parameters
    ----------
    path : str, os.PathLike or sequence of them
        One or more ``.csv``/``.parquet`` tables (see the module docstring for which is which).

    Returns
    -------
    list of tuple
        ``(data, kwargs, "points")`` per layer: one for a detection table, one per class for
        picks (:func:`voxpick.napari.layers.picks_layers`).

    Raises
    ------
    ValueError
        A file that is not a voxpick table, or one that cannot be read.
    FileNotFoundError
        A missing file.
    """
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    layers: list[LayerData] = []
    for p in paths:
        layers.extend(_read_one(Path(p)))
    return layers


def get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """Return :func:`read_tables` when every path is a voxpick table, else None.

    Parameters
    ----------
    path : str, os.PathLike or sequence of them
        What napari was asked to open.

    Returns
    -------
    callable or None
        The reader, or None to let napari try other plugins.
    """
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    if paths and all(table_kind(p) is not None for p in paths):
        return read_tables
    return None
