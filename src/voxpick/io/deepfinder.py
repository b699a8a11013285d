"""DeepFinder object lists (``objlist.xml``): particle classes and positions of labelled tomograms.

An object list is ``<objlist><object tomo_idx=.. class_label=.. x=.. y=.. z=../>...``. DeepFinder
writes ``x, y, z`` as the indices of the first, second and third array axes of its HDF5
tomograms, whose first axis is the beam (missing-wedge) axis. voxpick's arrays are
``(z, y, x)`` with z the beam axis, so the XML ``x, y, z`` become voxpick's ``z, y, x``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd


def read_deepfinder_objlist(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a DeepFinder object list.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.xml`` file.

    Returns
    -------
    pandas.DataFrame
        ``particle_type`` (the class label as a string, e.g. ``"3"``), ``z, y, x`` (array
        indices of axes 0, 1, 2, float) and ``tomo_idx`` when present.

    Raises
    ------
    ValueError
        When the file is not XML, has no ``object`` elements, or an object lacks
        ``class_label, x, y, z`` or has non-numeric coordinates.
    """
    p = Path(path)
    try:
        root = ET.parse(p).getroot()
    except ET.ParseError as err:
        raise ValueError(
            f"{p}: not a readable XML object list ({err}); the file may be truncated."
        ) from err
    rows = []
    for i, obj in enumerate(root.iter("object")):
        a = obj.attrib
        missing = [k for k in ("class_label", "x", "y", "z") if k not in a]
        if missing:
            raise ValueError(
                f"{p}: object {i} lacks attributes {missing}: expected class_label, x, y, z."
            )
        try:
            coords = [float(a["x"]), float(a["y"]), float(a["z"])]
        except ValueError as err:
            raise ValueError(f"{p}: object {i} has non-numeric coordinates {a}.") from err
        row: dict[str, object] = {"particle_type": str(a["class_label"])}
        row.update(zip(("z", "y", "x"), coords, strict=True))
        if "tomo_idx" in a:
            row["tomo_idx"] = int(a["tomo_idx"])
        rows.append(row)
    if not rows:
        raise ValueError(f"{p}: no <object> elements: expected a DeepFinder object list.")
    out = pd.DataFrame(rows)
    if not np.isfinite(out[["z", "y", "x"]].to_numpy(float)).all():
        raise ValueError(f"{p}: NaN or infinite coordinates.")
    return out
