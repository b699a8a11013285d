"""copick projects: tomograms, particle objects and picks, through the :mod:`copick` package.

copick stores pick locations as (x, y, z) in Angstrom; every frame here uses voxpick's column
names ``z, y, x``, still in Angstrom (convert with :func:`voxpick.io.picks_to_voxels`). copick is
an optional dependency (``pip install 'voxpick[cryoet]'``), imported only when a function here
is called.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from voxpick.io.omezarr import open_level
from voxpick.validation import check_positions

VoxelSize = tuple[float, float, float]
#: Columns of :func:`read_picks`.
PICK_COLUMNS: tuple[str, ...] = tuple(
    "experiment particle_type z y x score user_id session_id".split()
)


def _copick() -> ModuleType:
    try:
        import copick
    except ImportError as err:
        raise ImportError(
            "copick is needed for copick projects: pip install 'voxpick[cryoet]' "
            "(or pip install copick).",
            name="copick",
        ) from err
    # copick's tomograms are zarr v3 arrays with numcodecs codecs, and zarr warns on every
    # array it opens that such codecs are outside the v3 specification (ZarrUserWarning from
    # zarr.codecs.numcodecs). It is the project's format, not something a user can act on:
    # silence exactly that message (other zarr warnings still show).
    warnings.filterwarnings(
        "ignore",
        message="Numcodecs codecs are not in the Zarr version 3 specification",
        category=UserWarning,
        module=r"zarr\.codecs\.numcodecs",
    )
    return copick


def open_project(config: Any) -> Any:
    """Open a copick project.

    Parameters
    ----------
    config : str, os.PathLike or copick root
        Path to a copick JSON config (e.g. ``{"config_type": "filesystem", "overlay_root":
        ..., "static_root": ..., "pickable_objects": [...]}``), or an already open root,
        returned as is.

    Returns
    -------
    copick.models.CopickRoot
        The project root.

    Raises
    ------
    FileNotFoundError
        The config file does not exist.
    ValueError
        The file is not valid JSON or not a valid copick config.
    ImportError
        copick is not installed.
    """
    if not isinstance(config, str | os.PathLike):
        if hasattr(config, "runs") and hasattr(config, "pickable_objects"):
            return config
        raise TypeError(
            f"config is a {type(config).__name__}: expected the path of a copick JSON config "
            "or a root returned by copick.from_file / open_project."
        )
    copick = _copick()
    p = Path(config)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such copick config file.")
    try:
        return copick.from_file(str(p))
    except json.JSONDecodeError as err:
        raise ValueError(f"{p}: not valid JSON ({err}). Fix the copick config.") from err
    except (ValueError, KeyError, TypeError) as err:  # pydantic.ValidationError is a ValueError
        raise ValueError(
            f"{p}: not a valid copick config ({err}). Expected keys such as config_type, "
            "overlay_root and pickable_objects; see copick's documentation."
        ) from err


def particle_objects(root: Any) -> pd.DataFrame:
    """List the project's pickable objects.

    Parameters
    ----------
    root : copick root or path to its config
        See :func:`open_project`.

    Returns
    -------
    pandas.DataFrame
        One row per object: ``name, label, radius_A`` (NaN when unset), ``is_particle``,
        ``identifier`` (GO / UniProt id), ``pdb_id``, ``emdb_id``.
    """
    cols = ["name", "label", "radius_A", "is_particle", "identifier", "pdb_id", "emdb_id"]
    rows = [
        [
            o.name,
            o.label,
            np.nan if o.radius is None else float(o.radius),
            bool(o.is_particle),
            o.identifier,
            o.pdb_id,
            o.emdb_id,
        ]
        for o in open_project(root).pickable_objects
    ]
    return pd.DataFrame(rows, columns=cols)


def list_runs(root: Any) -> list[str]:
    """Names of the project's runs (experiments), sorted.

    Parameters
    ----------
    root : copick root or path to its config
        See :func:`open_project`.

    Returns
    -------
    list of str
    """
    return sorted(str(r.name) for r in open_project(root).runs)


def _get_run(root: Any, run: Any) -> Any:
    if not isinstance(run, str):
        if hasattr(run, "voxel_spacings") and hasattr(run, "get_picks"):
            return run
        raise TypeError(f"run is a {type(run).__name__}: expected a run name (str).")
    found = root.get_run(run)
    if found is None:
        names = list_runs(root)
        raise ValueError(
            f"run={run!r} is not in the copick project: available runs are {names[:20]}"
            + (f" and {len(names) - 20} more" if len(names) > 20 else "")
            + ". Pass one of them (see list_runs)."
        )
    return found


def _pick_one(options: list[Any], wanted: Any, *, what: str, run: str, close: bool) -> Any:
    keys = [o[0] for o in options]
    if not options:
        raise ValueError(f"run {run!r} has no {what}: write a tomogram into it first.")
    if wanted is None:
        return options[0][1]
    for key, value in options:
        if (close and abs(float(key) - float(wanted)) <= 1e-3) or (not close and key == wanted):
            return value
    raise ValueError(
        f"{what}={wanted!r} is not in run {run!r}: available {what} values are {keys}. "
        f"Pass one of them, or leave {what}=None to take the first ({keys[0]!r})."
    )


def read_tomogram(
    root: Any,
    run: str,
    *,
    voxel_spacing: float | None = None,
    tomo_type: str | None = None,
    level: int = 0,
) -> tuple[np.ndarray, VoxelSize]:
    """Read one tomogram of a run into memory.

    Parameters
    ----------
    root : copick root or path to its config
        See :func:`open_project`.
    run : str
        Run name (see :func:`list_runs`).
    voxel_spacing : float, optional
        Voxel spacing in Angstrom (matched within 0.001 A). ``None`` takes the run's only one,
        or the finest when there are several.
    tomo_type : str, optional
        Tomogram type, e.g. ``"wbp"``, ``"denoised"``. ``None`` takes the only one, or the
        first in alphabetical order.
    level : int, default 0
        Multiscale level (0 = full resolution, each next level is binned by 2).

    Returns
    -------
    volume : numpy.ndarray
        3D array, axes (z, y, x).
    voxel_size : tuple of float
        ``(z, y, x)`` voxel size of that level in Angstrom (from the OME-Zarr metadata, or the
        voxel spacing times ``2**level`` when the metadata has none).

    Raises
    ------
    ValueError
        Unknown run, voxel spacing, tomogram type or level; the error lists those available.
    """
    _copick()
    root = open_project(root)
    r = _get_run(root, run)
    spacings = sorted(((float(v.voxel_size), v) for v in r.voxel_spacings), key=lambda t: t[0])
    vs = _pick_one(spacings, voxel_spacing, what="voxel_spacing", run=r.name, close=True)
    tomos = sorted(((str(t.tomo_type), t) for t in vs.tomograms), key=lambda t: t[0])
    tomo = _pick_one(tomos, tomo_type, what="tomo_type", run=r.name, close=False)
    import zarr

    source = f"copick run {r.name!r} tomogram {tomo.tomo_type!r} at {vs.voxel_size:g} A"
    try:
        node = zarr.open(tomo.zarr(), mode="r")
    except Exception as err:  # zarr raises several types for a missing or broken store
        raise OSError(
            f"{source}: cannot open its zarr store ({type(err).__name__}: {err}). The tomogram "
            "is missing or incomplete; re-write it."
        ) from err
    array, voxel_size = open_level(node, level=level, source=source)
    if voxel_size is None:
        voxel_size = (float(vs.voxel_size) * 2**level,) * 3
    return np.asarray(array[...]), voxel_size


def read_picks(
    root: Any,
    run: str,
    *,
    object_name: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
) -> pd.DataFrame:
    """Read the picks of a run, optionally filtered, as one table in Angstrom.

    Parameters
    ----------
    root : copick root or path to its config
        See :func:`open_project`.
    run : str
        Run name.
    object_name, user_id, session_id : str, optional
        Keep only the picks of this object / user (or tool) / session.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PICK_COLUMNS`: ``experiment`` (run name), ``particle_type`` (object
        name), ``z, y, x`` (Angstrom: copick's location plus the translation of its transform,
        i.e. the particle centre), ``score``, ``user_id``, ``session_id``. Empty when no picks
        match.
    """
    root = open_project(root)
    r = _get_run(root, run)
    if object_name is not None:
        _check_known(root, [object_name])
    cols: dict[str, list[Any]] = {c: [] for c in PICK_COLUMNS}
    for p in r.get_picks(object_name=object_name, user_id=user_id, session_id=session_id):
        xyz = np.asarray(p.full_positions(), dtype=float).reshape(-1, 3)
        for i, axis in enumerate("xyz"):
            cols[axis] += xyz[:, i].tolist()
        cols["score"] += np.asarray(p.scores(), dtype=float).reshape(-1).tolist()
        meta = {"experiment": r.name, "particle_type": p.pickable_object_name}
        meta.update(user_id=p.user_id, session_id=p.session_id)
        for key, value in meta.items():
            cols[key] += [str(value)] * len(xyz)
    return pd.DataFrame(cols).astype({c: np.float64 for c in ("z", "y", "x", "score")})


def _check_known(root: Any, names: list[str]) -> None:
    known = sorted(str(o.name) for o in root.pickable_objects)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(
            f"particle_type {unknown} is not a pickable object of the copick project: known "
            f"objects are {known}. Rename the rows or add the object to the config."
        )


def write_picks(
    root: Any,
    run: str,
    picks: pd.DataFrame,
    *,
    user_id: str = "voxpick",
    session_id: str = "0",
    overwrite: bool = False,
) -> None:
    """Write picks into a run, one copick picks file per particle type.

    Every check runs before anything is written, so a refused call writes nothing.

    Parameters
    ----------
    root : copick root or path to its config
        See :func:`open_project`.
    run : str
        Run name; the run must exist.
    picks : pandas.DataFrame
        Columns ``particle_type`` and ``z, y, x`` in Angstrom; an optional ``score`` column
        (finite) is stored too. An ``experiment`` column, if present, must equal ``run``.
    user_id : str, default "voxpick"
        copick user (or tool) name.
    session_id : str, default "0"
        copick session; ``"0"`` marks picks made by a tool.
    overwrite : bool, default False
        Replace existing picks of the same particle type, user and session; without it they
        are an error. Picks of other particle types are left alone.

    Raises
    ------
    ValueError
        Missing columns, NaN positions or scores, an unknown particle type (the message lists
        the known ones), rows of another experiment, invalid ids, or existing picks.
    """
    _copick()
    from copick.util.escape import sanitize_name

    root = open_project(root)
    r = _get_run(root, run)
    if not isinstance(picks, pd.DataFrame):
        raise TypeError(f"picks is a {type(picks).__name__}: expected a pandas.DataFrame.")
    missing = [c for c in ("particle_type", "z", "y", "x") if c not in picks.columns]
    if missing:
        raise ValueError(
            f"picks is missing columns {missing}: expected particle_type, z, y, x (Angstrom), "
            f"found {list(picks.columns)}."
        )
    for name, value in (("user_id", user_id), ("session_id", session_id)):
        if not isinstance(value, str) or not value or sanitize_name(value) != value:
            raise ValueError(
                f"{name}={value!r} is not a valid copick id: expected a non-empty string "
                f"without path separators or spaces, e.g. {sanitize_name(str(value))!r}."
            )
    if "experiment" in picks.columns:
        other = sorted(set(picks["experiment"].astype(str)) - {str(r.name)})
        if other:
            raise ValueError(
                f"picks has rows of experiments {other[:10]} but run={r.name!r}: write one run "
                f"at a time, e.g. picks[picks['experiment'] == {r.name!r}]."
            )
    xyz = check_positions(picks[["x", "y", "z"]].to_numpy(dtype=float), name="picks")
    scores = None
    if "score" in picks.columns:
        scores = picks["score"].to_numpy(dtype=float)
        if not np.isfinite(scores).all():
            raise ValueError("picks has NaN or infinite scores: expected finite values.")
    types = picks["particle_type"].astype(str).to_numpy()
    names = sorted(set(types))
    _check_known(root, names)
    if not overwrite:
        refuse_existing_picks(root, r, names, user_id=user_id, session_id=session_id)
    for name in names:
        rows = types == name
        out = r.new_picks(name, session_id=session_id, user_id=user_id, exist_ok=True)
        out.from_numpy(xyz[rows], scores=None if scores is None else scores[rows])


def refuse_existing_picks(
    root: Any, run: Any, object_names: list[str], *, user_id: str, session_id: str
) -> None:
    """Raise if the run already has picks of these objects by this user and session.

    Parameters
    ----------
    root : copick root or path to its config
        See :func:`open_project`.
    run : str
        Run name.
    object_names : list of str
        Particle types about to be written.
    user_id, session_id : str
        copick ids of the picks about to be written.

    Raises
    ------
    ValueError
        Such picks exist; the message names them, how many points each holds, and the two
        ways out (``overwrite=True``, another ``session_id``).
    """
    root = open_project(root)
    r = _get_run(root, run)
    existing: dict[str, int] = {}
    for name in object_names:
        for p in r.get_picks(object_name=name, user_id=user_id, session_id=session_id):
            existing[name] = existing.get(name, 0) + len(p.points or [])
    if existing:
        found = ", ".join(f"{n} ({k} points)" for n, k in sorted(existing.items()))
        raise ValueError(
            f"run {r.name!r} already has picks by user_id={user_id!r} in "
            f"session_id={session_id!r}: {found}. Pass overwrite=True (voxpick pick "
            "--overwrite) to replace them, or write to another session_id (--session-id)."
        )
