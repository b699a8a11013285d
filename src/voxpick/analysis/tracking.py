"""Trajectories from per-frame detections, and their mean squared displacement, with trackpy.

:func:`link` joins the detections of consecutive frames (a :func:`voxpick.batch` table) into
trajectories with :func:`trackpy.link` (the Crocker-Grier algorithm), in 3D (z, y, x) and in
physical units when a voxel size is given. :func:`msd` is trackpy's ensemble (or
per-particle) mean squared displacement, and :func:`diffusion_coefficient` the slope of a
straight line fitted to it. trackpy is optional (extra ``track``), imported when first used.
See ``docs/tracking.md``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from voxpick.validation import as_triple, check_number

POS_COLUMNS = ["z", "y", "x"]


def _trackpy() -> Any:
    try:
        import trackpy
    except ImportError as err:
        raise ImportError(
            "linking and MSD need trackpy, which is not installed: pip install "
            "'voxpick[track]' (or pip install trackpy).",
            name="trackpy",
        ) from err
    trackpy.quiet()
    return trackpy


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the pandas deprecation warnings trackpy's own code raises (not the user's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _voxel_size(table: pd.DataFrame, voxel_size: Any) -> tuple[float, float, float]:
    """Return the voxel size given, else the table's (``attrs["voxel_size"]``), else 1."""
    if voxel_size is None:
        voxel_size = table.attrs.get("voxel_size", 1.0)
    return as_triple(voxel_size, name="voxel_size")


def _check_table(table: Any, *, name: str, columns: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            f"{name}={type(table).__name__} is not a table: expected a pandas DataFrame with "
            f"columns {list(columns)} (e.g. from voxpick.batch)."
        )
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"{name} lacks columns {missing}: expected {list(columns)} (found "
            f"{list(table.columns)[:12]}). Locate a time series with voxpick.batch, which adds "
            "the frame column."
        )
    values = table[list(columns)].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} has NaN or infinite values in {list(columns)}: drop those rows.")
    return table


def link(
    features: pd.DataFrame,
    *,
    search_range: Any,
    memory: int = 0,
    voxel_size: Any = None,
    adaptive_stop: float | None = None,
    adaptive_step: float = 0.95,
) -> pd.DataFrame:
    """Link per-frame detections into trajectories with :func:`trackpy.link`.

    Parameters
    ----------
    features : pandas.DataFrame
        Detections with columns ``frame``, ``z, y, x`` (voxels), e.g. from
        :func:`voxpick.batch`; other columns are kept.
    search_range : float or sequence of 3 float
        Largest distance a particle moves between two frames, in the units of
        ``voxel_size`` (voxels by default); a ``(z, y, x)`` triple for a different range per
        axis. Keep it below half the distance between neighbours.
    memory : int
        Frames a particle may vanish for and still keep its trajectory (trackpy's memory).
    voxel_size : float or sequence of 3 float, optional
        Voxel size (z, y, x); with it ``search_range`` is physical (e.g. um) and distances
        along z count with their true length. Default: the voxel size the features were
        located with (``features.attrs["voxel_size"]``, which :func:`voxpick.batch` records,
        from the file's calibration when it has one), else 1.
    adaptive_stop, adaptive_step : float
        trackpy's adaptive search: when a crowded group of candidates is too large to solve,
        retry it with ``search_range`` times ``adaptive_step`` until it is solved or reaches
        ``adaptive_stop`` (same units). Default: off.

    Returns
    -------
    pandas.DataFrame
        The features with a ``particle`` column (int, one id per trajectory), sorted by frame
        and particle; ``attrs`` of ``features``, plus ``search_range`` (voxels, z, y, x),
        ``memory`` and the ``voxel_size`` used.

    Raises
    ------
    ValueError, TypeError
        Missing columns, or a bad range or memory.
    ImportError
        trackpy is not installed (extra ``track``).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"frame": [0, 0, 1, 1], "z": [5.0, 20, 5.5, 20.5],
    ...                   "y": [5.0, 20, 5, 20], "x": [5.0, 20, 5, 20]})
    >>> link(f, search_range=3)["particle"].tolist()
    [0, 1, 0, 1]
    """
    table = _check_table(features, name="features", columns=("frame", "z", "y", "x"))
    vs = _voxel_size(table, voxel_size)
    sr = as_triple(search_range, name="search_range")
    sr_px = tuple(s / v for s, v in zip(sr, vs, strict=True))
    if isinstance(memory, bool) or not isinstance(memory, int | np.integer) or memory < 0:
        raise ValueError(f"memory={memory!r} must be a whole number of frames >= 0, e.g. 2.")
    isotropic = len(set(sr_px)) == 1
    stop = None
    if adaptive_stop is not None:
        fraction = check_number(
            adaptive_stop, name="adaptive_stop", lo=1e-9, hi=max(sr),
            hint="It is the smallest search range to retry with, in the units of search_range.",
        ) / max(sr)  # fmt: skip
        # trackpy takes it in voxels; with a range per axis it divides by each axis's range
        stop = fraction * (sr_px[0] if isotropic else min(sr_px))
    check_number(adaptive_step, name="adaptive_step", lo=1e-3, hi=0.999, hint="e.g. 0.95.")
    tp = _trackpy()
    search = sr_px[0] if isotropic else sr_px
    data = table.reset_index(drop=True)
    if len(data) == 0:
        linked = data.assign(particle=np.zeros(0, np.int64))
    else:
        try:
            with _quiet():
                linked = tp.link(
                    data, search, pos_columns=POS_COLUMNS, t_column="frame", memory=int(memory),
                    adaptive_stop=stop, adaptive_step=adaptive_step,
                )  # fmt: skip
        except tp.SubnetOversizeException as err:
            raise ValueError(
                f"search_range={search_range!r} is too large for these frames: trackpy met a "
                f"group of candidates too large to solve ({err}). Use a smaller search_range "
                "(below half the distance between neighbours), or let trackpy shrink it where "
                f"needed with adaptive_stop, e.g. adaptive_stop={0.3 * max(sr):.3g}."
            ) from None
    linked = linked.sort_values(["frame", "particle"], kind="stable").reset_index(drop=True)
    linked["particle"] = linked["particle"].astype(np.int64)
    linked.attrs = dict(features.attrs)
    linked.attrs.update(search_range=sr_px, memory=int(memory), voxel_size=vs)
    return linked


def msd(
    tracks: pd.DataFrame,
    *,
    voxel_size: Any = None,
    frame_interval: float = 1.0,
    max_lag: int = 100,
    per_particle: bool = False,
) -> pd.Series | pd.DataFrame:
    """Mean squared displacement of trajectories in 3D, with trackpy.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Trajectories with columns ``frame``, ``particle``, ``z, y, x`` (voxels), e.g. from
        :func:`link`; gaps are allowed.
    voxel_size : float or sequence of 3 float, optional
        Voxel size (z, y, x): displacements in its units. Default: ``tracks.attrs
        ["voxel_size"]`` (what :func:`voxpick.batch` located with), else 1 (voxels).
    frame_interval : float
        Time between frames: lag times in its unit (frames by default).
    max_lag : int
        Longest lag, in frames.
    per_particle : bool
        One column per particle (:func:`trackpy.imsd`) instead of the ensemble average
        (:func:`trackpy.emsd`, weighted by the number of displacements).

    Returns
    -------
    pandas.Series or pandas.DataFrame
        MSD (units of ``voxel_size`` squared) indexed by lag time; a DataFrame with one column
        per particle when ``per_particle``.
    """
    table = _check_table(tracks, name="tracks", columns=("frame", "particle", "z", "y", "x"))
    vs = np.asarray(_voxel_size(table, voxel_size))
    dt = check_number(frame_interval, name="frame_interval", lo=1e-300, hi=np.inf, hint="> 0.")
    if isinstance(max_lag, bool) or not isinstance(max_lag, int | np.integer) or max_lag < 1:
        raise ValueError(f"max_lag={max_lag!r} must be a whole number of frames >= 1.")
    tp = _trackpy()
    data = table[["frame", "particle", *POS_COLUMNS]].reset_index(drop=True)
    if len(data) == 0 and not per_particle:
        return pd.Series([], index=pd.Index([], name="lag time"), name="msd", dtype=float)
    with _quiet():
        if per_particle:
            return tp.imsd(data, vs, 1.0 / dt, max_lagtime=int(max_lag), pos_columns=POS_COLUMNS)
        detail = tp.emsd(
            data, vs, 1.0 / dt, max_lagtime=int(max_lag), detail=True, pos_columns=POS_COLUMNS
        )
    # index by lag in frames times the interval (trackpy's averaged lag times are inexact)
    lags = pd.Index(detail.index.to_numpy(dtype=float) * dt, name="lag time")
    return pd.Series(detail["msd"].to_numpy(), index=lags, name="msd")


def diffusion_coefficient(
    tracks: pd.DataFrame,
    *,
    voxel_size: Any = None,
    frame_interval: float = 1.0,
    max_lag: int = 10,
) -> float:
    """Diffusion coefficient from the slope of the ensemble MSD: ``MSD(t) = 6 D t + c``.

    A straight line with an intercept is fitted to :func:`msd` at lags 1 to ``max_lag``
    frames; the intercept ``c`` absorbs the localisation error (``6 sigma²`` for an error
    ``sigma`` per axis), so that it does not bias ``D``. In a crowded suspension the MSD
    bends down with lag time (cages): ``D`` then depends on ``max_lag``, so compare
    coefficients measured with the same one.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Trajectories (columns ``frame``, ``particle``, ``z, y, x``), e.g. from :func:`link`.
    voxel_size : float or sequence of 3 float, optional
        Voxel size (z, y, x); default as :func:`msd`.
    frame_interval : float
        Time between frames.
    max_lag : int
        Longest lag of the fit, frames (at least 2).

    Returns
    -------
    float
        ``D`` in units of ``voxel_size`` squared per unit of ``frame_interval`` (voxel²/frame
        by default).
    """
    if isinstance(max_lag, bool) or not isinstance(max_lag, int | np.integer) or max_lag < 2:
        raise ValueError(f"max_lag={max_lag!r} must be a whole number of frames >= 2 (a slope).")
    curve = msd(tracks, voxel_size=voxel_size, frame_interval=frame_interval, max_lag=max_lag)
    curve = curve.dropna()
    if len(curve) < 2:
        raise ValueError(
            "the trajectories are too short for a slope: expected particles followed over at "
            "least 3 frames. Link with a larger search_range or memory, or record more frames."
        )
    slope = np.polyfit(curve.index.to_numpy(dtype=float), curve.to_numpy(dtype=float), 1)[0]
    return float(slope / 6.0)
