"""Slices of a volume with detections drawn on them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Ellipse

from voxpick.validation import as_triple, check_positions, check_volume

_AXIS_NAMES = ("z", "y", "x")


def plot_slice(
    volume: np.ndarray,
    detections: pd.DataFrame | np.ndarray | None = None,
    *,
    diameter: float | tuple[float, float, float],
    axis: int = 0,
    index: int | None = None,
    truth: pd.DataFrame | np.ndarray | None = None,
    ax: Axes | None = None,
    color: str = "tab:orange",
    **imshow_kwargs: Any,
) -> Axes:
    """Show one orthogonal slice with the detections that cut it drawn as ellipses.

    A particle at distance ``d`` from the slice is drawn with the cross-section of an ellipsoid of
    the given (anisotropic) diameter at that distance, so touching and z-elongated particles
    look as they do in the image.

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
        True positions, drawn as small cyan crosses.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure's axes by default.
    color : str
        Edge colour of the detection ellipses.
    **imshow_kwargs
        Passed to :meth:`matplotlib.axes.Axes.imshow`.

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
    if detections is not None:
        pos = check_positions(detections, name="detections")
        semi = diam / 2.0
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
                    edgecolor=color,
                    linewidth=1.0,
                )
            )
    if truth is not None:
        tpos = check_positions(truth, name="truth")
        near = np.abs(tpos[:, axis] - index) < 0.5 * diam[axis] / 2.0
        ax.plot(tpos[near, cols], tpos[near, rows], "+", color="cyan", markersize=5, mew=1)
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(image.shape[0] - 0.5, -0.5)
    ax.set_xlabel(_AXIS_NAMES[cols])
    ax.set_ylabel(_AXIS_NAMES[rows])
    ax.set_title(f"{_AXIS_NAMES[axis]} = {index}")
    return ax
