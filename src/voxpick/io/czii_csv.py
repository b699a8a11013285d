"""CZII submission CSV (``id,experiment,particle_type,x,y,z`` in Angstrom) and unit helpers.

Picks inside voxpick are (z, y, x) in voxels; the CZII CryoET Object Identification
competition, copick and :func:`voxpick.metrics.czii_score` use Angstrom. The frames written and
read here carry ``experiment, particle_type, x, y, z`` exactly as the score expects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpick.io.atomic import atomic_path
from voxpick.io.positions import read_csv_exact
from voxpick.validation import as_triple, check_positions

#: Column order of a CZII submission file.
SUBMISSION_COLUMNS: tuple[str, ...] = ("id", "experiment", "particle_type", "x", "y", "z")
_AXES = ("z", "y", "x")


def _check_picks(picks: Any, *, name: str, required: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(picks, pd.DataFrame):
        raise TypeError(
            f"{name} is a {type(picks).__name__}: expected a pandas.DataFrame with columns "
            f"{list(required)}."
        )
    missing = [c for c in required if c not in picks.columns]
    if missing:
        raise ValueError(
            f"{name} is missing columns {missing}: expected {list(required)} (found "
            f"{list(picks.columns)}). Positions z, y, x are in Angstrom."
        )
    coords = check_positions(picks[list(_AXES)].to_numpy(dtype=float), name=name)
    out = picks.copy()
    for i, axis in enumerate(_AXES):
        out[axis] = coords[:, i] if len(out) else out[axis].astype(float)
    return out


def write_submission(path: str | os.PathLike[str], picks: pd.DataFrame) -> Path:
    """Write picks as a CZII submission CSV, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.csv``.
    picks : pandas.DataFrame
        Columns ``experiment`` (run name), ``particle_type`` and ``z, y, x`` in Angstrom;
        other columns are ignored. Rows keep their order.

    Returns
    -------
    pathlib.Path
        The written file: header ``id,experiment,particle_type,x,y,z``, ``id`` = 0 .. n-1,
        floats written exactly (shortest round-trip representation).

    Raises
    ------
    ValueError
        Missing columns, NaN/infinite positions or empty experiment/particle_type values.
    """
    return _write_czii(path, picks, {})


def _write_czii(path: str | os.PathLike[str], picks: pd.DataFrame, extra: dict[str, Any]) -> Path:
    """Write the CZII columns of ``picks`` (Angstrom), then the ``extra`` columns."""
    df = _check_picks(picks, name="picks", required=("experiment", "particle_type", *_AXES))
    for col in ("experiment", "particle_type"):
        bad = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if bad.any():
            raise ValueError(
                f"picks has {int(bad.sum())} rows with an empty {col!r} (first at row "
                f"{int(np.flatnonzero(bad.to_numpy())[0])}): every pick needs one. Fill or drop "
                "those rows."
            )
    out = pd.DataFrame(
        {
            "id": np.arange(len(df), dtype=np.int64),
            "experiment": df["experiment"].astype(str).to_numpy(),
            "particle_type": df["particle_type"].astype(str).to_numpy(),
            "x": df["x"].to_numpy(dtype=float),
            "y": df["y"].to_numpy(dtype=float),
            "z": df["z"].to_numpy(dtype=float),
        }
    )
    for col in extra:
        out[col] = extra[col]
    target = Path(path)
    with atomic_path(target) as tmp:
        out.to_csv(tmp, index=False, lineterminator="\n")
    return target


#: Columns :func:`write_picks_csv` adds after :data:`SUBMISSION_COLUMNS`.
PICKS_CSV_EXTRA: tuple[str, ...] = ("score", "x_px", "y_px", "z_px")


def write_picks_csv(
    path: str | os.PathLike[str], picks_px: pd.DataFrame, *, voxel_size: Any
) -> Path:
    """Write picks as a CZII submission CSV plus score and pixel columns, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.csv``.
    picks_px : pandas.DataFrame
        Columns ``experiment``, ``particle_type``, ``z, y, x`` in **voxels** and optionally
        ``score`` (empty when absent).
    voxel_size : float or tuple of 3 floats
        ``(z, y, x)`` Angstrom per voxel.

    Returns
    -------
    pathlib.Path
        The file: header ``id,experiment,particle_type,x,y,z,score,x_px,y_px,z_px``, ``x, y, z``
        in Angstrom as in a CZII submission (so :func:`read_submission` and
        :func:`voxpick.metrics.czii_score` read it), then the score and the position in voxels.
    """
    px = _check_picks(picks_px, name="picks_px", required=("experiment", "particle_type", *_AXES))
    picks_A = picks_to_angstrom(px, voxel_size=voxel_size)
    extra = {f"{axis}_px": px[axis].to_numpy(dtype=float) for axis in "xyz"}
    score = px["score"].to_numpy(dtype=float) if "score" in px else np.full(len(px), np.nan)
    return _write_czii(path, picks_A, {"score": score, **extra})


def read_submission(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CZII submission (or solution) CSV.

    Parameters
    ----------
    path : str or os.PathLike
        CSV with at least ``experiment, particle_type, x, y, z`` (Angstrom); ``id`` is optional.

    Returns
    -------
    pandas.DataFrame
        The file's columns with ``experiment`` and ``particle_type`` as str and ``x, y, z`` as
        float64 (bit-exact), ready for :func:`voxpick.metrics.czii_score`.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Unreadable file, missing columns, or non-numeric/NaN coordinates.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such submission CSV.")
    try:
        df = read_csv_exact(p, dtype={"experiment": str, "particle_type": str})
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise ValueError(f"{p}: cannot read as CSV ({err}). Re-create the file.") from err
    required = ("experiment", "particle_type", "x", "y", "z")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(
            f"{p} is missing columns {missing}: expected {list(SUBMISSION_COLUMNS)} (found "
            f"{list(df.columns)})."
        )
    for axis in ("x", "y", "z"):
        values = pd.to_numeric(df[axis], errors="coerce").astype(np.float64)
        bad = ~np.isfinite(values.to_numpy())
        if bad.any():
            raise ValueError(
                f"{p}: column {axis!r} has {int(bad.sum())} empty, non-numeric or infinite "
                f"values (first at row {int(np.flatnonzero(bad)[0])}): expected Angstrom "
                "coordinates. Fix or drop those rows."
            )
        df[axis] = values
    return df.reset_index(drop=True)


def _convert(picks: Any, voxel_size: Any, *, to_angstrom: bool, name: str) -> Any:
    vs = np.asarray(as_triple(voxel_size, name="voxel_size"))
    if isinstance(picks, pd.DataFrame):
        out = _check_picks(picks, name=name, required=_AXES)
        coords = out[list(_AXES)].to_numpy(dtype=float)
        coords = coords * vs if to_angstrom else coords / vs
        for i, axis in enumerate(_AXES):
            out[axis] = coords[:, i]
        return out
    coords = check_positions(picks, name=name)
    return coords * vs if to_angstrom else coords / vs


def picks_to_angstrom(picks_px: Any, *, voxel_size: Any) -> Any:
    """Convert z, y, x from voxels to Angstrom (``position * voxel_size``).

    Parameters
    ----------
    picks_px : pandas.DataFrame or array_like
        A frame with columns ``z, y, x`` in voxels (other columns are kept), or an ``(N, 3)``
        array in (z, y, x) order.
    voxel_size : float or tuple of 3 floats
        ``(z, y, x)`` voxel size in Angstrom (a scalar means isotropic).

    Returns
    -------
    pandas.DataFrame or numpy.ndarray
        A copy, same type as the input, with z, y, x in Angstrom.
    """
    return _convert(picks_px, voxel_size, to_angstrom=True, name="picks_px")


def picks_to_voxels(picks_A: Any, *, voxel_size: Any) -> Any:
    """Convert z, y, x from Angstrom to voxels (``position / voxel_size``).

    Parameters
    ----------
    picks_A : pandas.DataFrame or array_like
        A frame with columns ``z, y, x`` in Angstrom (other columns are kept), or an ``(N, 3)``
        array in (z, y, x) order.
    voxel_size : float or tuple of 3 floats
        ``(z, y, x)`` voxel size in Angstrom (a scalar means isotropic).

    Returns
    -------
    pandas.DataFrame or numpy.ndarray
        A copy, same type as the input, with z, y, x in voxels.
    """
    return _convert(picks_A, voxel_size, to_angstrom=False, name="picks_A")
