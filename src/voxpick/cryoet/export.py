"""Write picks for the programs that use them, the file format chosen by the file's suffix.

=================  ==========================================================================
suffix             file
=================  ==========================================================================
``.csv``           CZII columns ``id,experiment,particle_type,x,y,z`` (Angstrom), then
                   ``score,x_px,y_px,z_px``; ``czii=True``: exactly the CZII submission
``.star``          RELION particles: ``relion=5`` centred Angstrom, ``relion=4`` pixels
``.txt``, ``.pts``  IMOD point file ``object contour x y z`` (``point2model -scat``)
``.mod``           IMOD model, one scattered-point object per class
=================  ==========================================================================

The writers live in :mod:`voxpick.io` (:func:`voxpick.io.write_picks_csv`,
:func:`voxpick.io.write_submission`, :mod:`voxpick.io.pick_exports`); see ``docs/cryoet.md``
for each program's conventions.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from voxpick.io.czii_csv import picks_to_angstrom, write_picks_csv, write_submission
from voxpick.io.pick_exports import (
    check_pick_frame,
    write_imod_model,
    write_imod_points,
    write_star,
)
from voxpick.validation import as_triple

__all__ = ["PICK_FILE_FORMATS", "export_picks", "pick_file_format"]

#: File format of each suffix :func:`export_picks` writes.
PICK_FILE_FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".star": "star",
    ".txt": "imod-points",
    ".pts": "imod-points",
    ".mod": "imod-model",
}
_NEEDS = {"star": "starfile", "imod-model": "imodmodel"}


def pick_file_format(path: str | os.PathLike[str], *, czii: bool = False) -> str:
    """Return the format :func:`export_picks` writes to ``path``; check it can be written.

    Call it before a long picking run: it refuses an unknown suffix, ``czii`` with a file that
    is not a ``.csv``, and a format whose optional package is missing.

    Returns
    -------
    str
        ``"csv"``, ``"czii"``, ``"star"``, ``"imod-points"`` or ``"imod-model"``.
    """
    suffix = Path(path).suffix.lower()
    fmt = PICK_FILE_FORMATS.get(suffix)
    if fmt is None:
        raise ValueError(
            f"{str(path)!r} has the suffix {suffix!r}, which says no pick format: expected "
            f"one of {sorted(PICK_FILE_FORMATS)} (.csv table, .star RELION, .txt/.pts IMOD "
            "points, .mod IMOD model)."
        )
    if czii:
        if fmt != "csv":
            raise ValueError(f"czii applies to .csv files: {str(path)!r} is a {fmt} file.")
        fmt = "czii"
    module = _NEEDS.get(fmt)
    if module is not None and importlib.util.find_spec(module) is None:
        raise ImportError(
            f"{module} is needed to write {suffix} files: pip install 'voxpick[cryoet]' (or pip "
            f"install {module}).",
            name=module,
        )
    return fmt


def export_picks(
    picks: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    voxel_size: Any,
    shape: Any,
    tomo_name: str,
    classes: Sequence[str] | None = None,
    radii_A: Mapping[str, float] | None = None,
    czii: bool = False,
    relion: int = 5,
) -> Path:
    """Write picks to ``path`` in the format its suffix says (:data:`PICK_FILE_FORMATS`).

    Parameters
    ----------
    picks : pandas.DataFrame
        ``particle_type``, ``z, y, x`` in voxels of the picked tomogram, optional ``score``
        (what :func:`voxpick.cryoet.pick` returns).
    path : str or os.PathLike
        Destination; written atomically.
    voxel_size : float or tuple of 3 floats
        ``(z, y, x)`` Angstrom per voxel of the picked tomogram.
    shape : tuple of 3 int
        ``(z, y, x)`` size of the picked tomogram (RELION 5 centring, IMOD model size).
    tomo_name : str
        The tomogram's name: CSV ``experiment``, STAR ``rlnTomoName``.
    classes : sequence of str, optional
        Class order (STAR ``rlnClassNumber``, IMOD object numbers), e.g. a picker's classes so
        that numbers agree between tomograms; default the particle types found, sorted.
    radii_A : mapping of str to float, optional
        Particle radius per class (Angstrom): the sphere size of each IMOD model object.
    czii : bool
        For ``.csv``: exactly the CZII submission columns (no score, no pixel columns).
    relion : {5, 4}
        For ``.star``: centred Angstrom (RELION 5) or pixels (RELION 3/4, Warp).

    Returns
    -------
    pathlib.Path
    """
    fmt = pick_file_format(path, czii=czii)
    df = check_pick_frame(picks).assign(experiment=tomo_name)
    vs = as_triple(voxel_size, name="voxel_size")
    if fmt == "csv":
        return write_picks_csv(path, df, voxel_size=vs)
    if fmt == "czii":
        return write_submission(path, picks_to_angstrom(df, voxel_size=vs))
    if fmt == "star":
        return write_star(
            path, df, voxel_size=vs, tomo_name=tomo_name, shape=shape, relion=relion,
            classes=classes,
        )  # fmt: skip
    if fmt == "imod-points":
        return write_imod_points(path, df, classes=classes)
    sphere = None if radii_A is None else {k: r / vs[2] for k, r in radii_A.items()}
    return write_imod_model(path, df, shape=shape, voxel_size=vs, classes=classes, sphere_px=sphere)
