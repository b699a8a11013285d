"""Generic particle-position tables: CSV or Parquet with ``z``, ``y``, ``x`` columns.

Positions are in voxels, (z, y, x) = array axes (0, 1, 2), the library's convention. Any other
columns (``score``, ``radius``, ...) are kept as they are. A table's ``attrs`` (how it was made:
detector, diameter, voxel size, thresholds, version) travel with it: inside a Parquet file's
metadata, and in a JSON sidecar ``NAME.csv.json`` beside a CSV file.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpick.io.atomic import atomic_path
from voxpick.validation import check_positions

AXES: tuple[str, str, str] = ("z", "y", "x")
_CSV_SUFFIXES = (".csv",)
_PARQUET_SUFFIXES = (".parquet", ".pq")


def read_csv_exact(path: str | os.PathLike[str], **kwargs: Any) -> pd.DataFrame:
    """Read a CSV with pandas so that floats written with ``repr`` come back bit-identical.

    pandas < 3 needs ``float_precision="round_trip"`` for that guarantee; pandas >= 3 parses
    exactly by default (and deprecates the argument).

    Parameters
    ----------
    path : str or os.PathLike
        CSV file.
    **kwargs
        Passed on to :func:`pandas.read_csv`.

    Returns
    -------
    pandas.DataFrame
    """
    if int(pd.__version__.split(".")[0]) < 3:
        kwargs.setdefault("float_precision", "round_trip")
    return pd.read_csv(path, **kwargs)


def _normalise_columns(df: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Rename ``Z``/``Y``/``X`` (any case) to lower case and put ``z, y, x`` first."""
    renames: dict[Any, str] = {}
    for col in df.columns:
        if isinstance(col, str) and col.lower() in AXES:
            target = col.lower()
            if target in renames.values():
                raise ValueError(
                    f"{source} has more than one column named {target!r} (ignoring case): found "
                    f"{list(df.columns)}. Keep a single z, y and x column."
                )
            renames[col] = target
    missing = [a for a in AXES if a not in renames.values()]
    if missing:
        raise ValueError(
            f"{source} is missing position columns {missing}: expected columns z, y, x "
            f"(any case, in voxels) but found {list(df.columns)}. Rename the columns, "
            "e.g. df.rename(columns={'axis0': 'z', 'axis1': 'y', 'axis2': 'x'})."
        )
    out = df.rename(columns=renames)
    rest = [c for c in out.columns if c not in AXES]
    return out[[*AXES, *rest]]


def numeric_columns(df: pd.DataFrame, columns: Any, *, source: str) -> pd.DataFrame:
    """Return ``df`` with ``columns`` as float64; a non-numeric value names file, column and row.

    Parameters
    ----------
    df : pandas.DataFrame
        A table read from a file.
    columns : iterable of str
        The columns that must hold numbers (missing ones are skipped). Empty cells become NaN.
    source : str
        The file, for error messages.

    Returns
    -------
    pandas.DataFrame
        A copy with those columns as float64.

    Raises
    ------
    ValueError
        A cell of one of ``columns`` is not a number (e.g. ``"abc"``).
    """
    out = df.copy()
    for col in columns:
        if col not in out.columns:
            continue
        values = pd.to_numeric(out[col], errors="coerce")
        bad = np.flatnonzero((values.isna() & out[col].notna()).to_numpy())
        if bad.size:
            raise ValueError(
                f"{source}: column {col!r} holds non-numeric values ({bad.size} rows, the first "
                f"row {int(bad[0])}: {out[col].iloc[bad[0]]!r}): expected numbers. Fix or drop "
                "those rows."
            )
        out[col] = values.astype(np.float64)
    return out


def _as_frame(positions: Any) -> pd.DataFrame:
    """Turn a DataFrame or an ``(N, 3)`` array into a DataFrame with z, y, x columns."""
    if isinstance(positions, pd.DataFrame):
        return _normalise_columns(positions, source="positions")
    arr = check_positions(positions)
    return pd.DataFrame({"z": arr[:, 0], "y": arr[:, 1], "x": arr[:, 2]})


def _suffix_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _CSV_SUFFIXES:
        return "csv"
    if suffix in _PARQUET_SUFFIXES:
        return "parquet"
    raise ValueError(
        f"{path}: unsupported positions file suffix {path.suffix!r}: expected .csv or .parquet. "
        "Rename the file or pass a path ending in .csv."
    )


def _require_parquet_engine(path: Path) -> None:
    if (
        importlib.util.find_spec("pyarrow") is None
        and importlib.util.find_spec("fastparquet") is None
    ):
        raise ImportError(
            f"{path}: writing or reading Parquet needs pyarrow, which is not installed. "
            "Install it with `pip install pyarrow`, or use a .csv path instead."
        )


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """Return the JSON file beside a CSV table that holds its ``attrs``: ``NAME.csv.json``.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file.

    Returns
    -------
    pathlib.Path
    """
    p = Path(path)
    return p.with_name(p.name + ".json")


def _plain(value: Any) -> Any:
    """JSON fallback for attrs values: numpy scalars and arrays, tuples, anything else as text."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def plain_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """``attrs`` as plain JSON values (tuples become lists, numpy values numbers).

    Parameters
    ----------
    attrs : dict

    Returns
    -------
    dict
    """
    result: dict[str, Any] = json.loads(json.dumps(attrs, default=_plain))
    return result


def write_positions(path: str | os.PathLike[str], positions: Any) -> Path:
    """Write a positions table atomically as CSV or Parquet (chosen by suffix).

    Parameters
    ----------
    path : str or os.PathLike
        Destination ending in ``.csv`` or ``.parquet`` (``.pq``). Parquet needs ``pyarrow``.
    positions : pandas.DataFrame or array_like
        A table with at least columns ``z``, ``y``, ``x`` (any case; written in lower case,
        first) and any extra columns, or an ``(N, 3)`` array in (z, y, x) order.

    Returns
    -------
    pathlib.Path
        The written path. The file is complete or absent, never partial.

    Raises
    ------
    ValueError
        Missing columns, NaN/infinite coordinates or an unsupported suffix.
    """
    target = Path(path)
    kind = _suffix_kind(target)
    df = _as_frame(positions)
    coords = check_positions(df[list(AXES)].to_numpy(dtype=float), name="positions")
    df = df.copy()
    for i, axis in enumerate(AXES):
        df[axis] = coords[:, i]
    df.attrs.clear()
    df.attrs.update(plain_attrs(dict(getattr(positions, "attrs", {}))))
    if kind == "parquet":
        _require_parquet_engine(target)
    side = sidecar_path(target)
    with atomic_path(target) as tmp:
        if kind == "csv":
            df.to_csv(tmp, index=False, lineterminator="\n")
            if df.attrs:
                with atomic_path(side) as tmp_side:
                    tmp_side.write_text(json.dumps(df.attrs, indent=1, sort_keys=True) + "\n")
            elif side.exists():
                side.unlink()  # a stale description of an earlier table
        else:
            df.to_parquet(tmp, index=False)
    return target


def read_positions(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a positions table (CSV or Parquet) with ``z``, ``y``, ``x`` columns.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.csv`` or ``.parquet`` file. Column names ``Z``, ``Y``, ``X`` in any case are
        normalised to lower case.

    Returns
    -------
    pandas.DataFrame
        Columns ``z, y, x`` (float64, voxels) first, then any other columns in file order;
        ``attrs`` from the file (Parquet) or its JSON sidecar (CSV).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Unreadable file, missing position columns or NaN/non-numeric coordinates.
    """
    source = Path(path)
    kind = _suffix_kind(source)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such positions file.")
    try:
        if kind == "csv":
            df = read_csv_exact(source)
        else:
            _require_parquet_engine(source)
            df = pd.read_parquet(source)
    except (ValueError, OSError) as err:
        raise ValueError(
            f"{source}: cannot read as a {kind} positions table ({err}). The file may be "
            "truncated or corrupt; re-create it."
        ) from err
    attrs = dict(df.attrs)
    side = sidecar_path(source)
    if kind == "csv" and side.is_file():
        try:
            attrs = json.loads(side.read_text())
        except ValueError as err:
            raise ValueError(
                f"{side}: the description beside {source.name} is not valid JSON ({err}). "
                "Delete it to read the table without it."
            ) from err
    df = numeric_columns(_normalise_columns(df, source=str(source)), AXES, source=str(source))
    nan_rows = np.flatnonzero(~np.isfinite(df[list(AXES)].to_numpy()).all(axis=1))
    if nan_rows.size:
        raise ValueError(
            f"{source}: {nan_rows.size} rows have empty, NaN or infinite z/y/x (first rows: "
            f"{nan_rows[:5].tolist()}): expected finite positions. Drop them, e.g. "
            "df.dropna(subset=['z', 'y', 'x'])."
        )
    out = df.reset_index(drop=True)
    out.attrs = attrs
    return out
