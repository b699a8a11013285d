"""Plots of structural statistics: the pair correlation function g(r)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def plot_gr(
    rdf: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    diameter: float | None = None,
    ax: Axes | None = None,
    label: str | None = None,
    cutoff: float | None = None,
) -> Axes:
    """Draw one or several pair correlation functions g(r).

    Parameters
    ----------
    rdf : pandas.DataFrame or mapping of str to pandas.DataFrame
        Output of :func:`voxpick.analysis.pair_correlation` (columns ``r``, ``g``), or several
        keyed by legend label (e.g. detections and truth).
    diameter : float, optional
        When given, ``r`` is shown in diameters (``r / diameter``).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure's axes by default (no pyplot).
    label : str, optional
        Legend label when ``rdf`` is a single table.
    cutoff : float, optional
        Neighbour cutoff (same unit as ``r``) marked with a dotted vertical line.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if isinstance(rdf, pd.DataFrame):
        items: list[tuple[str | None, pd.DataFrame]] = [(label, rdf)]
    elif isinstance(rdf, Mapping):
        items = [(str(k), v) for k, v in rdf.items()]
    else:
        raise TypeError(
            f"rdf is a {type(rdf).__name__}: expected a DataFrame with 'r' and 'g' columns "
            "(from voxpick.analysis.pair_correlation) or a dict of them keyed by label."
        )
    if diameter is not None and not (np.isfinite(diameter) and diameter > 0):
        raise ValueError(f"diameter={diameter!r} must be a positive number or None.")
    scale = 1.0 if diameter is None else float(diameter)
    if ax is None:
        ax = Figure(figsize=(5.0, 3.5), layout="constrained").add_subplot()
    for name, table in items:
        missing = [c for c in ("r", "g") if c not in table.columns]
        if missing:
            raise ValueError(
                f"g(r) table {name or 'rdf'!r} lacks columns {missing}: expected 'r' and 'g' "
                f"(found {list(table.columns)})."
            )
        ax.plot(table["r"].to_numpy() / scale, table["g"].to_numpy(), label=name, lw=1.2)
    ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
    if cutoff is not None:
        ax.axvline(cutoff / scale, color="0.3", lw=0.8, ls=":", label="neighbour cutoff")
    ax.set_xlabel("r / diameter" if diameter is not None else "r")
    ax.set_ylabel("g(r)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if any(name for name, _ in items) or cutoff is not None:
        ax.legend(loc="upper right", fontsize="small")
    return ax
