"""Picks for subtomogram averaging: RELION STAR files and IMOD point and model files.

Every function here takes picks in voxpick's convention: a DataFrame with ``particle_type``
and ``z, y, x`` in **voxels** of the picked tomogram (a voxel's centre at integer coordinates,
voxel 0 first), optionally ``score``. The files use each program's own conventions:

* RELION 5 (``relion=5``): ``rlnCenteredCoordinateXAngst/YAngst/ZAngst``, Angstrom from the
  tomogram centre: ``(position_px - size / 2) * voxel_size`` per axis, the inverse of what
  RELION 5 does when it reads them (``pixel = centered_A / pixel_size + size / 2``).
* RELION 3/4, Warp and most older tools (``relion=4``): ``rlnCoordinateX/Y/Z`` in pixels of
  the picked tomogram, voxel 0 at 0 (scale them by the binning if the tilt series pixels are
  finer).
* IMOD: model coordinates put the centre of voxel ``(0, 0, 0)`` at ``(0.5, 0.5, 0)``: x and y
  are shifted by half a pixel, z is the section index.

STAR files are written with :mod:`starfile` and IMOD models with :mod:`imodmodel`, optional
packages of the ``cryoet`` extra imported only when used. Every writer is atomic.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from voxpick.io.atomic import atomic_path
from voxpick.validation import as_triple, check_positions

#: Column of the class name in voxpick's STAR files (RELION keeps unknown labels).
STAR_NAME_COLUMN = "voxpickParticleType"
STAR_CENTERED = tuple(f"rlnCenteredCoordinate{a}Angst" for a in "XYZ")
STAR_PIXELS = tuple(f"rlnCoordinate{a}" for a in "XYZ")
#: Object colours (RGB 0-255) of IMOD objects, by class number, repeating.
IMOD_COLOURS = (
    (0, 255, 0), (255, 0, 255), (0, 255, 255), (255, 255, 0), (255, 128, 0), (128, 128, 255),
    (255, 0, 0), (0, 128, 255),
)  # fmt: skip
_WHITESPACE = re.compile(r"\s")


def _optional(module: str) -> ModuleType:
    try:
        return __import__(module)
    except ImportError as err:
        raise ImportError(
            f"{module} is needed for this file format: pip install 'voxpick[cryoet]' "
            f"(or pip install {module}).",
            name=module,
        ) from err


def check_pick_frame(picks: Any, *, name: str = "picks") -> pd.DataFrame:
    """Check a picks frame (``particle_type``, ``z, y, x`` in voxels, optional ``score``).

    Returns
    -------
    pandas.DataFrame
        A copy with float64 positions (and score) and str particle types.
    """
    if not isinstance(picks, pd.DataFrame):
        raise TypeError(
            f"{name} is a {type(picks).__name__}: expected a pandas.DataFrame with columns "
            "particle_type, z, y, x (voxels) and optionally score."
        )
    missing = [c for c in ("particle_type", "z", "y", "x") if c not in picks.columns]
    if missing:
        raise ValueError(
            f"{name} is missing columns {missing}: expected particle_type, z, y, x (voxels), "
            f"found {list(picks.columns)}. Convert Angstrom with picks_to_voxels."
        )
    out = picks.copy()
    xyz = check_positions(out[["z", "y", "x"]].to_numpy(dtype=float), name=name)
    for i, axis in enumerate("zyx"):
        out[axis] = xyz[:, i] if len(out) else out[axis].astype(float)
    types = out["particle_type"]
    bad = types.isna() | (types.astype(str).str.strip() == "")
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} rows without a particle_type (first at row "
            f"{int(np.flatnonzero(bad.to_numpy())[0])}): every pick needs a class name."
        )
    out["particle_type"] = types.astype(str)
    if "score" in out.columns:
        score = out["score"].to_numpy(dtype=float)
        if not np.isfinite(score).all():
            raise ValueError(f"{name} has NaN or infinite scores: expected finite values.")
        out["score"] = score
    return out.reset_index(drop=True)


def class_numbers(picks: pd.DataFrame, classes: Sequence[str] | None) -> tuple[list[str], Any]:
    """Return the class order and each pick's class number (1-based, in that order).

    ``classes`` (e.g. a picker's classes) fixes the numbers, so that they stay the same in
    every tomogram; ``None`` numbers the particle types found, sorted by name.
    """
    found = sorted(set(picks["particle_type"]))
    if classes is None:
        order = found
    else:
        order = [str(c) for c in classes]
        if len(set(order)) != len(order):
            raise ValueError(f"classes={order} has repeated names: expected each class once.")
        unknown = sorted(set(found) - set(order))
        if unknown:
            raise ValueError(
                f"picks has particle types {unknown} that are not in classes={order}: add them "
                "to classes, or leave classes=None to number the types found."
            )
    spaced = [c for c in order if _WHITESPACE.search(c)]
    if spaced:
        raise ValueError(
            f"class names {spaced} contain whitespace, which STAR and IMOD files cannot hold "
            "unquoted: rename them (e.g. with '-' or '_')."
        )
    number = {c: i + 1 for i, c in enumerate(order)}
    return order, picks["particle_type"].map(number).to_numpy(dtype=np.int64)


def _check_name(value: Any, *, name: str) -> str:
    if not isinstance(value, str) or not value.strip() or _WHITESPACE.search(value):
        raise ValueError(
            f"{name}={value!r} is not a valid name: expected a non-empty string without "
            "whitespace, the tomogram's name as the averaging program knows it (e.g. 'TS_5_4')."
        )
    return value


def _check_shape(shape: Any) -> tuple[int, int, int]:
    try:
        dims = tuple(int(s) for s in shape)
    except TypeError:
        dims = ()
    if len(dims) != 3 or min(dims) <= 0:
        raise ValueError(
            f"shape={shape!r} is invalid: expected the tomogram's (z, y, x) size in voxels, "
            "e.g. volume.shape."
        )
    return (dims[0], dims[1], dims[2])


def write_star(
    path: str | os.PathLike[str],
    picks: pd.DataFrame,
    *,
    voxel_size: Any,
    tomo_name: str,
    shape: Any = None,
    relion: int = 5,
    classes: Sequence[str] | None = None,
) -> Path:
    """Write picks as a RELION particles STAR file (block ``particles``), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.star``.
    picks : pandas.DataFrame
        ``particle_type``, ``z, y, x`` in voxels of the picked tomogram, optional ``score``.
    voxel_size : float or tuple of 3 floats
        ``(z, y, x)`` Angstrom per voxel of the picked tomogram.
    tomo_name : str
        ``rlnTomoName`` of every row: the tomogram's name in the RELION project.
    shape : tuple of 3 int, optional
        ``(z, y, x)`` size of the tomogram in voxels; needed for ``relion=5``.
    relion : {5, 4}
        5: ``rlnCenteredCoordinateX/Y/ZAngst`` (Angstrom from the tomogram centre); 4:
        ``rlnCoordinateX/Y/Z`` in pixels of the picked tomogram (RELION 3/4, Warp).
    classes : sequence of str, optional
        Class order for ``rlnClassNumber`` (1-based); default the particle types, sorted.

    Returns
    -------
    pathlib.Path
        The file. Columns: ``rlnTomoName``, the three coordinates (X, Y, Z), ``rlnClassNumber``,
        ``voxpickParticleType`` (the class name; RELION keeps unknown labels) and
        ``rlnAutopickFigureOfMerit`` (the score, when ``picks`` has one).
    """
    df = check_pick_frame(picks)
    if relion not in (4, 5):
        raise ValueError(f"relion={relion!r} is unknown: expected 5 (centred A) or 4 (pixels).")
    vs = np.asarray(as_triple(voxel_size, name="voxel_size"))
    tomo_name = _check_name(tomo_name, name="tomo_name")
    zyx = df[["z", "y", "x"]].to_numpy(dtype=float)
    if relion == 5:
        if shape is None:
            raise ValueError(
                "shape is needed for RELION 5 coordinates, which are relative to the tomogram "
                "centre: pass shape=volume.shape, or relion=4 for pixel coordinates."
            )
        zyx = (zyx - np.asarray(_check_shape(shape)) / 2.0) * vs
    names = STAR_CENTERED if relion == 5 else STAR_PIXELS
    _, number = class_numbers(df, classes)
    table = pd.DataFrame({"rlnTomoName": pd.Series([tomo_name] * len(df), dtype=object)})
    for axis, column in zip((2, 1, 0), names, strict=True):  # STAR is X, Y, Z
        table[column] = zyx[:, axis]
    table["rlnClassNumber"] = number
    table[STAR_NAME_COLUMN] = df["particle_type"].to_numpy(dtype=object)
    if "score" in df.columns:
        table["rlnAutopickFigureOfMerit"] = df["score"].to_numpy(dtype=float)
    starfile = _optional("starfile")
    target = Path(path)
    with atomic_path(target) as tmp:
        starfile.write({"particles": table}, tmp, float_format="%.6f")
    return target


def read_star(path: str | os.PathLike[str], *, voxel_size: Any, shape: Any = None) -> pd.DataFrame:
    """Read the particles of a RELION STAR file as picks in voxels.

    Parameters
    ----------
    path : str or os.PathLike
        A particles STAR file with ``rlnCenteredCoordinateX/Y/ZAngst`` (RELION 5) or
        ``rlnCoordinateX/Y/Z`` (pixels).
    voxel_size : float or tuple of 3 floats
        ``(z, y, x)`` Angstrom per voxel of the tomogram the positions are wanted in.
    shape : tuple of 3 int, optional
        ``(z, y, x)`` size of that tomogram; needed for centred coordinates.

    Returns
    -------
    pandas.DataFrame
        ``experiment`` (``rlnTomoName``, or empty), ``particle_type`` (``voxpickParticleType``,
        else ``rlnClassNumber`` as text, else empty), ``z, y, x`` in voxels, and ``score``
        (``rlnAutopickFigureOfMerit``, NaN when absent). Pixel coordinates are taken as they
        are: they must be pixels of that tomogram.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such STAR file.")
    starfile = _optional("starfile")
    try:
        blocks = starfile.read(p, always_dict=True)
    except Exception as err:  # starfile raises several types for a malformed file
        raise ValueError(f"{p}: cannot read as a STAR file ({type(err).__name__}: {err}).") from err
    tables = [b for b in blocks.values() if isinstance(b, pd.DataFrame)]
    df = blocks.get("particles", tables[-1] if tables else None)
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{p} has no particles table (blocks {list(blocks)}).")
    vs = np.asarray(as_triple(voxel_size, name="voxel_size"))
    if all(c in df.columns for c in STAR_CENTERED):
        if shape is None:
            raise ValueError(
                f"{p} has RELION 5 centred coordinates: pass shape=(z, y, x) of the tomogram."
            )
        xyz = df[list(STAR_CENTERED)].to_numpy(dtype=float)
        zyx = xyz[:, ::-1] / vs + np.asarray(_check_shape(shape)) / 2.0
    elif all(c in df.columns for c in STAR_PIXELS):
        zyx = df[list(STAR_PIXELS)].to_numpy(dtype=float)[:, ::-1]
    else:
        raise ValueError(
            f"{p} has neither {list(STAR_CENTERED)} nor {list(STAR_PIXELS)} (found "
            f"{list(df.columns)}): not a particles STAR file."
        )
    if STAR_NAME_COLUMN in df.columns:
        types = df[STAR_NAME_COLUMN].astype(str)
    elif "rlnClassNumber" in df.columns:
        types = df["rlnClassNumber"].astype(str)
    else:
        types = pd.Series([""] * len(df))
    return pd.DataFrame(
        {
            "experiment": df["rlnTomoName"].astype(str) if "rlnTomoName" in df else "",
            "particle_type": types.to_numpy(dtype=object),
            "z": zyx[:, 0], "y": zyx[:, 1], "x": zyx[:, 2],
            "score": df.get("rlnAutopickFigureOfMerit", pd.Series(np.nan, index=df.index))
            .to_numpy(dtype=float),
        }
    )  # fmt: skip


def imod_coordinates(picks: pd.DataFrame) -> np.ndarray:
    """IMOD model coordinates ``(n, 3)`` in x, y, z order of picks in voxels (z, y, x)."""
    zyx = picks[["z", "y", "x"]].to_numpy(dtype=float)
    return np.column_stack([zyx[:, 2] + 0.5, zyx[:, 1] + 0.5, zyx[:, 0]])


def write_imod_points(
    path: str | os.PathLike[str], picks: pd.DataFrame, *, classes: Sequence[str] | None = None
) -> Path:
    """Write picks as an IMOD point file (``object contour x y z`` per line), atomically.

    One object per class (numbered from 1 in ``classes`` order), all its picks in contour 1, in
    IMOD model coordinates. ``point2model -scat`` turns it into a model (see
    :func:`point2model_command`).

    Parameters
    ----------
    path : str or os.PathLike
        Destination (``.txt`` or ``.pts``).
    picks : pandas.DataFrame
        ``particle_type``, ``z, y, x`` in voxels.
    classes : sequence of str, optional
        Class order (object numbers); default the particle types found, sorted.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        No picks: point2model cannot read an empty point file.
    """
    df = check_pick_frame(picks)
    if df.empty:
        raise ValueError("picks is empty: an IMOD point file needs at least one point.")
    _, number = class_numbers(df, classes)
    order = np.argsort(number, kind="stable")  # point2model wants objects in order
    xyz = imod_coordinates(df)[order]
    target = Path(path)
    with atomic_path(target) as tmp, open(tmp, "w") as fh:
        for ob, (x, y, z) in zip(number[order], xyz, strict=True):
            fh.write(f"{ob} 1 {x:.3f} {y:.3f} {z:.3f}\n")
    return target


def point2model_command(
    points: str | os.PathLike[str],
    model: str | os.PathLike[str],
    *,
    n_classes: int,
    sphere_px: float | None = None,
    image: str | os.PathLike[str] | None = None,
) -> str:
    """Return the IMOD ``point2model`` command that turns a point file into a model.

    Parameters
    ----------
    points, model : str or os.PathLike
        The point file (:func:`write_imod_points`) and the model to create.
    n_classes : int
        Number of objects: each gets a colour of :data:`IMOD_COLOURS`.
    sphere_px : float, optional
        Radius (pixels) of the sphere drawn at each point.
    image : str or os.PathLike, optional
        The picked tomogram (MRC): the model takes its size and pixel size.
    """
    parts = ["point2model", "-scat"]
    if sphere_px is not None:
        parts += ["-sphere", str(max(1, round(float(sphere_px))))]
    if image is not None:
        parts += ["-image", _quote(image)]
    for k in range(n_classes):
        parts += ["-color", ",".join(str(c) for c in IMOD_COLOURS[k % len(IMOD_COLOURS)])]
    return " ".join([*parts, _quote(points), _quote(model)])


def _quote(path: str | os.PathLike[str]) -> str:
    import shlex

    return shlex.quote(str(path))


def write_imod_model(
    path: str | os.PathLike[str],
    picks: pd.DataFrame,
    *,
    shape: Any,
    voxel_size: Any,
    classes: Sequence[str] | None = None,
    sphere_px: Any = None,
) -> Path:
    """Write picks as an IMOD model (``.mod``) with :mod:`imodmodel`, atomically.

    One scattered-point object per class (named after it, numbered in ``classes`` order, each
    with a colour of :data:`IMOD_COLOURS`), all its picks in one contour, in IMOD model
    coordinates; the model's size is the tomogram's and its pixel size the voxel size (A).

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.mod``.
    picks : pandas.DataFrame
        ``particle_type``, ``z, y, x`` in voxels.
    shape : tuple of 3 int
        ``(z, y, x)`` size of the tomogram in voxels.
    voxel_size : float or tuple of 3 floats
        ``(z, y, x)`` Angstrom per voxel.
    classes : sequence of str, optional
        Class order; default the particle types found, sorted.
    sphere_px : float or mapping of str to float, optional
        Radius (pixels) of the sphere drawn at each point, one for all or one per class.

    Returns
    -------
    pathlib.Path
    """
    df = check_pick_frame(picks)
    order, number = class_numbers(df, classes)
    nz, ny, nx = _check_shape(shape)
    vz, vy, vx = as_triple(voxel_size, name="voxel_size")
    _optional("imodmodel")
    from imodmodel.models import Contour, ImodModel, ModelHeader, Object, ObjectHeader

    model = ImodModel(
        header=ModelHeader(
            name="voxpick picks", xmax=nx, ymax=ny, zmax=nz, pixelsize=vx, units=-10,
            xscale=1.0, yscale=vy / vx, zscale=vz / vx,
        )
    )  # fmt: skip
    xyz = imod_coordinates(df).astype(np.float32)
    for k, name in enumerate(order):
        red, green, blue = (c / 255 for c in IMOD_COLOURS[k % len(IMOD_COLOURS)])
        size = sphere_px.get(name) if isinstance(sphere_px, dict) else sphere_px
        header = ObjectHeader(name=name[:64], red=red, green=green, blue=blue)
        if size is not None:
            header.pdrawsize = max(1, round(float(size)))
        header.flags.scattered = True
        header.flags.open = True
        rows = xyz[number == k + 1]
        contours = [Contour(points=rows)] if len(rows) else []
        obj = Object(header=header, contours=contours)
        obj.update_sizes()
        model.objects.append(obj)
    model.update_sizes()
    target = Path(path)
    with atomic_path(target) as tmp, warnings.catch_warnings():
        # imodmodel 0.1 calls pydantic's deprecated BaseModel.dict() on every write
        warnings.filterwarnings("ignore", message="The `dict` method is deprecated")
        model.to_file(tmp)
    return target
