"""Slices of a volume with detections drawn on them, coloured by match when truth is known."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse

from voxpick.validation import as_triple, check_positions, check_volume

_AXIS_NAMES = ("z", "y", "x")

#: Colours of the three outcomes when truth is given.
MATCH_COLOURS = {"found": "tab:orange", "false": "red", "missed": "cyan"}


def classify(
    detections: Any,
    truth: Any,
    *,
    diameter: float | tuple[float, float, float],
    match_fraction: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Which detections are matched and which truth particles are missed.

    Uses the clean metric's one-to-one Hungarian matching (:func:`voxpick.metrics.match_points`)
    in units of the (anisotropic) diameter: a detection matches a particle when it lies inside
    the ellipsoid of ``match_fraction`` diameters around its centre.

    Parameters
    ----------
    detections, truth : array_like or pandas.DataFrame
        Positions (z, y, x) in voxels.
    diameter : float or tuple of 3 float
        Particle diameter in voxels, scalar or (z, y, x).
    match_fraction : float
        Matching distance as a fraction of the diameter (default 0.5, as the clean metric).

    Returns
    -------
    matched_detection : numpy.ndarray
        Boolean per detection (False: false positive).
    matched_truth : numpy.ndarray
        Boolean per truth particle (False: missed).
    """
    from voxpick.metrics import match_points

    diam = np.asarray(as_triple(diameter, name="diameter"))
    det = check_positions(detections, name="detections")
    tru = check_positions(truth, name="truth")
    res = match_points(tru, det, max_distance=match_fraction, voxel_size=1.0 / diam)
    found = np.zeros(len(det), dtype=bool)
    found[res.pred_index] = True
    hit = np.zeros(len(tru), dtype=bool)
    hit[res.truth_index] = True
    return found, hit


def _draw_sections(
    ax: Axes,
    pos: np.ndarray,
    semi: np.ndarray,
    *,
    axis: int,
    index: int,
    **patch_kwargs: Any,
) -> int:
    """Draw the cross-sections of ellipsoids at ``pos`` with the slice plane; return how many."""
    rows, cols = [a for a in range(3) if a != axis]
    dist = (pos[:, axis] - index) / semi[axis]
    cut = np.abs(dist) < 1.0
    for p, d in zip(pos[cut], dist[cut], strict=True):
        shrink = np.sqrt(1.0 - d * d)
        ax.add_patch(
            Ellipse(
                (p[cols], p[rows]),
                width=2 * semi[cols] * shrink,
                height=2 * semi[rows] * shrink,
                fill=False,
                **patch_kwargs,
            )
        )
    return int(cut.sum())


def plot_slice(
    volume: np.ndarray,
    detections: pd.DataFrame | np.ndarray | None = None,
    *,
    diameter: float | tuple[float, float, float],
    axis: int = 0,
    index: int | None = None,
    truth: pd.DataFrame | np.ndarray | None = None,
    match_fraction: float = 0.5,
    ax: Axes | None = None,
    color: str = "tab:orange",
    legend: bool | None = None,
    **imshow_kwargs: Any,
) -> Axes:
    """Show one orthogonal slice with the particles that cut it drawn as ellipses.

    A particle whose centre lies at distance ``d`` from the slice plane, with ``|d|`` below its
    semi-axis along the slicing axis, is drawn as the cross-section of an ellipsoid of the
    given (anisotropic) diameter with the plane, so touching and z-elongated particles look as
    they do in the image.

    Without ``truth`` every detection is drawn in ``color``. With ``truth``, detections and
    particles are matched one-to-one (:func:`classify`): matched detections are drawn in
    ``color``, false detections in red, and missed particles as dashed cyan ellipses.

    Parameters
    ----------
    volume : numpy.ndarray
        3D image (z, y, x).
    detections : pandas.DataFrame or numpy.ndarray, optional
        Positions (z, y, x) in voxels.
    diameter : float or tuple of 3 float
        Particle diameter in voxels, scalar or (z, y, x).
    axis : int
        Slicing axis: 0 shows a (y, x) plane, 1 a (z, x) plane, 2 a (z, y) plane.
    index : int, optional
        Slice index along ``axis``; the middle slice by default.
    truth : pandas.DataFrame or numpy.ndarray, optional
        True positions (z, y, x) in voxels: enables the found / false / missed colouring.
    match_fraction : float
        Matching distance as a fraction of the diameter (with ``truth``).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure's axes by default (no pyplot).
    color : str
        Edge colour of (matched) detection ellipses.
    legend : bool, optional
        Draw a legend; by default only when ``truth`` is given.
    **imshow_kwargs
        Passed to :meth:`matplotlib.axes.Axes.imshow` (e.g. ``aspect`` for anisotropic voxels).

    Returns
    -------
    matplotlib.axes.Axes
    """
    vol = check_volume(volume)
    diam = np.asarray(as_triple(diameter, name="diameter"))
    if axis not in (0, 1, 2):
        raise ValueError(f"axis={axis!r} must be 0 (z), 1 (y) or 2 (x).")
    index = vol.shape[axis] // 2 if index is None else int(index)
    if not 0 <= index < vol.shape[axis]:
        raise ValueError(f"index={index} is outside 0..{vol.shape[axis] - 1} along axis {axis}.")
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(6, 6)).subplots()
    image = np.take(vol, index, axis=axis)
    rows, cols = [a for a in range(3) if a != axis]
    imshow_kwargs.setdefault("cmap", "gray")
    imshow_kwargs.setdefault("interpolation", "nearest")
    ax.imshow(image, **imshow_kwargs)
    semi = diam / 2.0
    det = np.zeros((0, 3)) if detections is None else check_positions(detections, name="detections")
    handles: list[Line2D] = []
    if truth is None:
        _draw_sections(ax, det, semi, axis=axis, index=index, edgecolor=color, linewidth=1.0)
    else:
        tru = check_positions(truth, name="truth")
        found, hit = classify(
            det, tru, diameter=as_triple(diam, name="diameter"), match_fraction=match_fraction
        )
        n_found = _draw_sections(
            ax, det[found], semi, edgecolor=color, axis=axis, index=index, linewidth=1.0
        )
        n_false = _draw_sections(
            ax,
            det[~found],
            semi,
            edgecolor=MATCH_COLOURS["false"],
            axis=axis,
            index=index,
            linewidth=1.0,
        )
        n_missed = _draw_sections(
            ax,
            tru[~hit],
            semi,
            edgecolor=MATCH_COLOURS["missed"],
            linestyle="--",
            axis=axis,
            index=index,
            linewidth=1.0,
        )
        for label, colour, n, ls in (
            ("found", color, n_found, "-"),
            ("false", MATCH_COLOURS["false"], n_false, "-"),
            ("missed", MATCH_COLOURS["missed"], n_missed, "--"),
        ):
            handles.append(Line2D([], [], color=colour, ls=ls, label=f"{label} ({n})"))
    if legend if legend is not None else truth is not None:
        if not handles:
            handles = [Line2D([], [], color=color, label="detections")]
        ax.legend(handles=handles, loc="upper right", fontsize="small", framealpha=0.7)
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(image.shape[0] - 0.5, -0.5)
    ax.set_xlabel(_AXIS_NAMES[cols])
    ax.set_ylabel(_AXIS_NAMES[rows])
    ax.set_title(f"{_AXIS_NAMES[axis]} = {index}")
    return ax


def plot_orthogonal(
    volume: np.ndarray,
    detections: pd.DataFrame | np.ndarray | None = None,
    *,
    diameter: float | tuple[float, float, float],
    point: Sequence[float] | None = None,
    truth: pd.DataFrame | np.ndarray | None = None,
    match_fraction: float = 0.5,
    voxel_size: Any = 1,
    axes: Sequence[Axes] | None = None,
    **imshow_kwargs: Any,
) -> np.ndarray:
    """Three orthogonal slices (y-x, z-x, z-y) through one point, with detections overlaid.

    Each panel is :func:`plot_slice`; panels are shown with the physical aspect ratio of the
    voxels, so anisotropic particles look round when they are.

    Parameters
    ----------
    volume : numpy.ndarray
        3D image (z, y, x).
    detections : pandas.DataFrame or numpy.ndarray, optional
        Positions (z, y, x) in voxels.
    diameter : float or tuple of 3 float
        Particle diameter in voxels, scalar or (z, y, x).
    point : sequence of 3 float, optional
        (z, y, x) voxel the slices pass through; the centre of the volume by default.
    truth : pandas.DataFrame or numpy.ndarray, optional
        True positions: enables found / false / missed colouring.
    match_fraction : float
        Matching distance as a fraction of the diameter (with ``truth``).
    voxel_size : float or tuple of 3 float
        Voxel size (z, y, x), used only for the aspect ratio of each panel.
    axes : sequence of 3 matplotlib.axes.Axes, optional
        Where to draw the y-x, z-x and z-y panels; a new figure's axes by default.
    **imshow_kwargs
        Passed to every :meth:`matplotlib.axes.Axes.imshow`.

    Returns
    -------
    numpy.ndarray
        The three Axes, in the order y-x, z-x, z-y.
    """
    vol = check_volume(volume)
    vs = as_triple(voxel_size, name="voxel_size")
    centre = [s // 2 for s in vol.shape] if point is None else list(point)
    if len(centre) != 3:
        raise ValueError(f"point={point!r} has {len(centre)} values: expected (z, y, x).")
    idx = [round(float(c)) for c in centre]
    for a, (i, s) in enumerate(zip(idx, vol.shape, strict=True)):
        if not 0 <= i < s:
            raise ValueError(
                f"point={point!r} is outside the volume along {_AXIS_NAMES[a]} "
                f"(0..{s - 1}): pass a point inside shape {vol.shape}."
            )
    if axes is None:
        from matplotlib.figure import Figure

        zs, ys, xs = (n * v for n, v in zip(vol.shape, vs, strict=True))
        width = 13.0
        panel = width / 3.3  # inches per panel of the widest physical extent
        height = panel * max(ys, zs) / max(xs, ys) + 0.8
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = list(fig.subplots(1, 3, width_ratios=[xs, xs, ys]))
    if len(axes) != 3:
        raise ValueError(f"axes has {len(axes)} Axes: expected 3 (y-x, z-x, z-y panels).")
    for ax, axis in zip(axes, (0, 1, 2), strict=True):
        rows, cols = [a for a in range(3) if a != axis]
        plot_slice(
            vol,
            detections,
            diameter=diameter,
            axis=axis,
            index=idx[axis],
            truth=truth,
            match_fraction=match_fraction,
            ax=ax,
            legend=truth is not None and axis == 0,
            aspect=vs[rows] / vs[cols],
            **imshow_kwargs,
        )
    return np.asarray(axes, dtype=object)
