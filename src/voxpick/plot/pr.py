"""Precision-recall curves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def _as_curve(curve: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(curve, pd.DataFrame):
        raise TypeError(
            f"curve {name!r} is a {type(curve).__name__}: expected a pandas.DataFrame with "
            "columns 'recall' and 'precision' (e.g. from voxpick.metrics.pr_curve)."
        )
    missing = [c for c in ("recall", "precision") if c not in curve.columns]
    if missing:
        raise ValueError(
            f"curve {name!r} is missing columns {missing}: expected 'recall' and 'precision' "
            f"(found {list(curve.columns)})."
        )
    return curve["recall"].to_numpy(dtype=float), curve["precision"].to_numpy(dtype=float)


def plot_pr(
    curves: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    ax: Axes | None = None,
    label: str | None = None,
) -> Axes:
    """Draw one or several precision-recall curves.

    Parameters
    ----------
    curves : pandas.DataFrame or mapping of str to pandas.DataFrame
        A table with ``recall`` and ``precision`` columns (e.g. from
        :func:`voxpick.metrics.pr_curve`), or several such tables keyed by legend label.
    ax : matplotlib.axes.Axes, optional
        Where to draw. By default a new :class:`matplotlib.figure.Figure` is created (without
        pyplot, so nothing is shown and no global state is touched); save it with
        ``ax.figure.savefig(path)``.
    label : str, optional
        Legend label when ``curves`` is a single table.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Examples
    --------
    >>> import pandas as pd
    >>> ax = plot_pr(pd.DataFrame({"recall": [0.5, 1.0], "precision": [1.0, 0.8]}), label="run")
    >>> ax.get_xlabel()
    'Recall'
    """
    if isinstance(curves, pd.DataFrame):
        items: list[tuple[str | None, pd.DataFrame]] = [(label, curves)]
    elif isinstance(curves, Mapping):
        items = [(str(k), v) for k, v in curves.items()]
    else:
        raise TypeError(
            f"curves is a {type(curves).__name__}: expected a DataFrame with 'recall' and "
            "'precision' columns or a dict of them keyed by label."
        )
    if ax is None:
        ax = Figure(figsize=(4.5, 4.0), layout="constrained").add_subplot()
    for name, curve in items:
        recall, precision = _as_curve(curve, name or "curve")
        ax.plot(recall, precision, marker="o", markersize=3, label=name)
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    if any(name for name, _ in items):
        ax.legend(loc="lower left")
    return ax
