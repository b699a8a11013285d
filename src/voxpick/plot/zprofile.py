"""Detections per z plane: a coverslip or a bright layer shows as a band of extra detections."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def plot_z_profile(
    counts: Any,
    *,
    truth: Any = None,
    voxel_size: float = 1.0,
    unit: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw the number of detections centred in each z plane.

    Parameters
    ----------
    counts : array_like
        Detections per plane (:func:`voxpick.analysis.detections_per_plane`).
    truth : array_like, optional
        True particles per plane, drawn as a line.
    voxel_size : float
        z size of a voxel: the axis shows ``z * voxel_size``.
    unit : str, optional
        Unit of ``voxel_size`` (voxels when None).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure's axes by default (no pyplot).

    Returns
    -------
    matplotlib.axes.Axes
    """
    values = np.asarray(counts, dtype=float).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)) or values.min() < 0:
        raise ValueError(
            "counts must be one non-negative count per z plane, e.g. from "
            "voxpick.analysis.detections_per_plane(found, shape=volume.shape)."
        )
    if ax is None:
        ax = Figure(figsize=(5.0, 3.5), layout="constrained").add_subplot()
    z = np.arange(values.size) * float(voxel_size)
    width = float(voxel_size)
    ax.bar(z, values, width=width, color="tab:blue", label="detections")
    if truth is not None:
        ax.step(z, np.asarray(truth, dtype=float).ravel(), where="mid", color="black", lw=1,
                label="truth")  # fmt: skip
    ax.axhline(float(np.median(values)), color="grey", lw=0.8, ls=":", label="median")
    ax.set_xlabel(f"z ({unit})" if unit else "z (voxels)")
    ax.set_ylabel("detections per plane")
    ax.legend(fontsize="small")
    return ax
