"""Detection and pick tables as napari layer data: pure functions, no napari or Qt needed.

Each function returns napari "LayerData" tuples ``(data, layer_kwargs, "points")`` that
``napari.Viewer._add_layer_from_data`` (or a reader) turns into Points layers:

* :func:`detections_layer`: a voxpick detection table (``z, y, x`` voxels, ``score``...) as one
  layer: a circle of the particle's diameter about each centre, coloured by the score.
* :func:`picks_layers`: cryo-ET picks (``particle_type, z, y, x[, score]``) as one layer per
  class (and per ``experiment`` when a table holds several tomograms), marker size from the
  class radius.

napari 0.9 draws every point as a round marker with one size (a per-axis size is refused:
"Size is not compatible for broadcasting (may be anisotropic)"), scaled by the layer's
last-axis scale. The size is therefore the in-plane (y, x) diameter, which is what a marker in
a (y, x) slice shows. With a thick slice (napari's dims margins, which the widgets set to half
the z diameter) a point is drawn as the disc its sphere cuts from the slice shown
(``projection_mode="rescale_spherical"``), on the slices within half the marker size of its
centre: a particle elongated along z shows on fewer slices than it spans. The full (z, y, x)
diameter stays in the layer's ``metadata``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from voxpick.io.positions import plain_attrs
from voxpick.metrics.czii import CZII_PARTICLES
from voxpick.validation import as_triple

__all__ = ["CLASS_COLOURS", "LayerData", "detections_layer", "picks_layers"]

#: What napari readers and widgets return: ``(data, layer keyword arguments, layer type)``.
LayerData = tuple[np.ndarray, dict[str, Any], str]

#: Marker colours of the pick classes: the CZII classes in their competition order first, so
#: that a class keeps its colour from file to file; other classes take the next ones.
CLASS_COLOURS: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip

_AXES = ["z", "y", "x"]
#: How points are drawn: circles of the particle's size, empty inside so that the particle
#: stays visible; the colour is the circle's (napari's "border").
_CIRCLES: dict[str, Any] = {
    "symbol": "disc",
    "face_color": "transparent",
    "border_width": 0.15,
    "border_width_is_relative": True,
}


def _position_data(table: pd.DataFrame) -> np.ndarray:
    """Return ``(N, 3)`` z, y, x, or ``(N, 4)`` frame, z, y, x when the table has ``frame``."""
    axes = (["frame"] if "frame" in table.columns else []) + _AXES
    return table[axes].to_numpy(dtype=np.float64).reshape(len(table), len(axes))


def _score_colours(scores: pd.Series) -> dict[str, Any]:
    """Layer kwargs colouring each point's circle by its ``score`` feature (viridis)."""
    values = scores.to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    low, high = 0.0, 1.0
    if finite.size:  # the central 96 %: a few outliers do not squeeze every other colour
        low, high = (float(v) for v in np.percentile(finite, [2, 98]))
    if high <= low:  # one score, or every score equal: any non-empty range will do
        low, high = low - 0.5, low + 0.5
    return {
        "border_color": "score",
        "border_colormap": "viridis",
        "border_contrast_limits": (low, high),
    }


def detections_layer(
    detections: pd.DataFrame,
    *,
    name: str = "voxpick detections",
    diameter_px: Any = None,
) -> LayerData:
    """Turn a detection table into one napari Points layer.

    Parameters
    ----------
    detections : pandas.DataFrame
        Columns ``z, y, x`` in voxels (as :func:`voxpick.locate` returns or
        :func:`voxpick.io.read_positions` reads), an optional ``frame`` column (time series: the
        points get a leading frame axis) and any others; ``attrs`` as voxpick writes them.
    name : str
        Layer name.
    diameter_px : float or sequence of 3 float, optional
        Particle diameter in voxels, (z, y, x); default ``detections.attrs["diameter_px"]``.
        Without either, markers have napari's default size.

    Returns
    -------
    tuple
        ``(data, kwargs, "points")``: ``data`` the positions, ``kwargs`` with the marker size
        (in-plane diameter), every other column as ``features``, the circle's colour mapped
        from ``score`` (viridis over its 2nd to 98th percentile) and ``metadata["voxpick"]``
        holding ``attrs`` and ``diameter_px``.

    Raises
    ------
    ValueError
        Missing ``z, y, x`` columns or a bad ``diameter_px``.
    """
    if not isinstance(detections, pd.DataFrame):
        raise TypeError(
            f"detections is a {type(detections).__name__}: expected a pandas.DataFrame with "
            "columns z, y, x (voxels), e.g. the result of voxpick.locate."
        )
    missing = [a for a in _AXES if a not in detections.columns]
    if missing:
        raise ValueError(
            f"detections is missing columns {missing}: expected z, y, x in voxels (found "
            f"{list(detections.columns)}). Read files with voxpick.io.read_positions, which "
            "normalises Z/Y/X to lower case."
        )
    attrs = plain_attrs({str(k): v for k, v in detections.attrs.items()})
    if diameter_px is None:
        diameter_px = attrs.get("diameter_px")
    kwargs: dict[str, Any] = {
        "name": name,
        "features": detections.drop(columns=_AXES).reset_index(drop=True),
        **_CIRCLES,
        "border_color": "yellow",
        "projection_mode": "rescale_spherical",
        "metadata": {"voxpick": {"attrs": attrs, "diameter_px": None}},
    }
    if diameter_px is not None:
        d = as_triple(diameter_px, name="diameter_px")
        kwargs["size"] = (d[1] + d[2]) / 2
        kwargs["metadata"]["voxpick"]["diameter_px"] = list(d)
    if "score" in detections.columns:
        kwargs.update(_score_colours(detections["score"]))
    return (_position_data(detections), kwargs, "points")


def _class_colours(names: list[str]) -> dict[str, str]:
    """Give every class a colour: CZII classes fixed, others in order of appearance."""
    known = [p.name for p in CZII_PARTICLES]
    colours = {n: CLASS_COLOURS[i] for i, n in enumerate(known)}
    spare = iter(CLASS_COLOURS[len(known) :])
    for n in names:
        if n not in colours:
            colours[n] = next(spare, "#ffffff")
    return colours


def picks_layers(
    picks: pd.DataFrame,
    *,
    voxel_size: Any = None,
    radius_A: Mapping[str, float] | None = None,
    name: str = "",
) -> list[LayerData]:
    """Turn cryo-ET picks into one napari Points layer per particle class.

    Parameters
    ----------
    picks : pandas.DataFrame
        Columns ``particle_type`` and ``z, y, x``: in voxels of a tomogram of ``voxel_size``
        Angstrom (what :func:`voxpick.cryoet.pick` returns), or in Angstrom when
        ``voxel_size`` is None (a CZII submission CSV, :func:`voxpick.io.read_submission`).
        Optional ``score`` and ``experiment``; a table with several experiments gives one
        layer per experiment and class (picks of different tomograms never share a layer).
    voxel_size : float or sequence of 3 float, optional
        Angstrom per voxel (z, y, x) when the positions are in voxels; None when they are in
        Angstrom.
    radius_A : mapping of str to float, optional
        Particle radius of each class in Angstrom, for the marker size; default the CZII
        classes' (:data:`voxpick.metrics.CZII_PARTICLES`). Classes without one get napari's
        default marker size.
    name : str
        Prefix of the layer names (``"{name} {class}"``).

    Returns
    -------
    list of tuple
        One ``(data, kwargs, "points")`` per class, in class order; ``features`` hold the
        other columns (``score``...), the circle's colour is the class's
        (:data:`CLASS_COLOURS`) and its size the class diameter in the units of the positions.

    Raises
    ------
    ValueError
        Missing columns or a bad ``voxel_size``.
    """
    if not isinstance(picks, pd.DataFrame):
        raise TypeError(
            f"picks is a {type(picks).__name__}: expected a pandas.DataFrame with columns "
            "particle_type, z, y, x, e.g. the result of voxpick.cryoet.pick."
        )
    missing = [c for c in ("particle_type", *_AXES) if c not in picks.columns]
    if missing:
        raise ValueError(
            f"picks is missing columns {missing}: expected particle_type and z, y, x (found "
            f"{list(picks.columns)})."
        )
    vs = None if voxel_size is None else as_triple(voxel_size, name="voxel_size")
    unit = 1.0 if vs is None else vs[2]
    radii = {p.name: p.radius_A for p in CZII_PARTICLES} if radius_A is None else radius_A
    classes = list(dict.fromkeys(picks["particle_type"].astype(str)))
    known = [p.name for p in CZII_PARTICLES]
    classes.sort(key=lambda n: (known.index(n) if n in known else len(known), n))
    colours = _class_colours(classes)
    experiments: list[Any] = [None]
    if "experiment" in picks.columns and picks["experiment"].nunique() > 1:
        experiments = sorted(picks["experiment"].astype(str).unique())
    layers: list[LayerData] = []
    for experiment in experiments:
        rows = picks
        if experiment is not None:
            rows = picks[picks["experiment"].astype(str) == experiment]
        for cls in classes:
            part = rows[rows["particle_type"].astype(str) == cls].reset_index(drop=True)
            if len(part) == 0:
                continue
            title = " ".join(str(t) for t in (name, experiment, cls) if t)
            kwargs: dict[str, Any] = {
                "name": title,
                "features": part.drop(columns=_AXES),
                **_CIRCLES,
                "border_color": colours[cls],
                "projection_mode": "rescale_spherical",
                "metadata": {
                    "voxpick": {
                        "particle_type": cls,
                        "experiment": experiment,
                        "units": "Angstrom" if voxel_size is None else "voxels",
                        "voxel_size": None if vs is None else list(vs),
                    }
                },
            }
            if cls in radii:
                kwargs["size"] = 2 * float(radii[cls]) / unit
            layers.append((_position_data(part), kwargs, "points"))
    if not layers:  # no picks at all: one empty layer, so that the user sees the file opened
        empty = picks.iloc[:0].reset_index(drop=True)
        kwargs = {"name": name or "picks", "features": empty.drop(columns=_AXES)}
        layers.append((_position_data(empty), kwargs, "points"))
    return layers
