"""A self-contained HTML report of one tracking result: overlays, g(r), statistics, metrics.

The page has no external resource: figures are PNGs embedded as base64 ``data:`` URIs and the
style sheet is inline, so the file can be mailed, archived or opened offline.
"""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure, SubFigure

from voxpick.analysis.diameter import CLOSE_FRACTION, crowding_message
from voxpick.analysis.neighbours import (
    DEFAULT_CUTOFF_DIAMETERS,
    coordination_numbers,
    overlap_report,
)
from voxpick.analysis.order import steinhardt
from voxpick.analysis.rdf import first_minimum, pair_correlation
from voxpick.analysis.structure import nearest_neighbour_distances
from voxpick.detect.measure import detected_volume_fraction
from voxpick.io.atomic import atomic_path
from voxpick.validation import as_triple, check_positions, check_volume

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;
max-width:1150px}
h1{font-size:1.5em;margin-bottom:0.2em}h2{font-size:1.15em;margin-top:1.4em;
border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 12px;border-bottom:1px solid #eee;
text-align:left}td.v{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;display:block;margin:6px 0}.muted{color:#777;font-size:0.9em}
.grid{display:flex;flex-wrap:wrap;gap:16px}.grid>div{flex:1 1 420px}
"""


@dataclass
class ReportData:
    """Numbers shown in the report (also useful on their own).

    Attributes
    ----------
    stats : dict
        Label to value: counts, volume fraction, neighbour distances, overlaps, q4/q6, and the
        clean metric when truth is given.
    rdf : dict of str to pandas.DataFrame
        g(r) of the detections (and of the truth).
    cutoff : float
        Neighbour cutoff used for coordination numbers, physical units.
    """

    stats: dict[str, Any] = field(default_factory=dict)
    rdf: dict[str, pd.DataFrame] = field(default_factory=dict)
    cutoff: float = float("nan")


def _png(fig: Any, dpi: int = 80) -> str:
    """Encode a figure (or the root figure of a subfigure) as a PNG data URI."""
    buffer = io.BytesIO()
    fig = fig.get_figure(root=True) if isinstance(fig, SubFigure) else fig
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _fmt(value: Any) -> str:
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    value = float(value)
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.4g}"


def _structure(
    name: str,
    positions: np.ndarray,
    *,
    shape: tuple[int, int, int],
    diameter: float,
    voxel_size: tuple[float, float, float],
    data: ReportData,
) -> None:
    """Fill ``data`` with the structural statistics of one set of positions."""
    vs = np.asarray(voxel_size)
    diam_vox = tuple(float(v) for v in diameter / vs)
    stats = data.stats
    try:
        stats[f"{name}: volume fraction"] = detected_volume_fraction(
            positions, diameter=diam_vox, shape=shape
        )
    except ValueError:
        stats[f"{name}: volume fraction"] = float("nan")
    length = np.asarray(shape) * vs
    r_max = min(0.5 * float(length.min()), 5.0 * diameter)
    bins = max(10, round(r_max / (diameter / 20.0)))
    rdf = pair_correlation(positions, shape=shape, voxel_size=vs, r_max=r_max, bins=bins)
    data.rdf[name] = rdf
    if name == "detections":
        cut = first_minimum(rdf, diameter=diameter)
        if not (1.15 * diameter <= cut <= 1.7 * diameter):
            cut = DEFAULT_CUTOFF_DIAMETERS * diameter
        data.cutoff = cut
    nn = nearest_neighbour_distances(positions, voxel_size=vs) / diameter
    stats[f"{name}: NN distance median (d)"] = float(np.median(nn)) if nn.size else np.nan
    stats[f"{name}: NN distance mean ± sd (d)"] = (
        f"{nn.mean():.3f} ± {nn.std():.3f}" if nn.size else "n/a"
    )
    stats[f"{name}: NN distance min (d)"] = float(nn.min()) if nn.size else np.nan
    stats[f"{name}: pairs closer than 0.8 d"] = len(
        overlap_report(positions, diameter=diameter, fraction=CLOSE_FRACTION, voxel_size=vs)
    )
    stats[f"{name}: share with a neighbour closer than 0.8 d"] = (
        float(np.mean(nn < CLOSE_FRACTION)) if nn.size else 0.0
    )
    if name == "detections" and (hint := crowding_message(nn)):  # nn is already in diameters
        stats["detections: diameter check"] = (
            hint + " Run voxpick check-diameter VOLUME --diameter ... to tell which."
        )
    z = coordination_numbers(positions, cutoff=data.cutoff, voxel_size=vs, shape=shape)
    stats[f"{name}: coordination number (interior)"] = (
        float(np.nanmean(z)) if np.isfinite(z).any() else np.nan
    )
    if len(positions) > 12:
        q = steinhardt(positions, voxel_size=vs, shape=shape)
        interior = q["q6"].notna()
        stats[f"{name}: q4 mean (interior)"] = float(q.loc[interior, "q4"].mean())
        stats[f"{name}: q6 mean (interior)"] = float(q.loc[interior, "q6"].mean())


def analyse(
    volume_shape: tuple[int, int, int],
    detections: Any,
    *,
    diameter: float,
    voxel_size: Any = 1,
    truth: Any = None,
    match_fraction: float = 0.5,
) -> ReportData:
    """Compute every number of the report (no figures).

    Parameters
    ----------
    volume_shape : tuple of 3 int
        Shape (z, y, x) of the volume the detections come from.
    detections : pandas.DataFrame or array_like
        Positions (z, y, x) in voxels; an optional ``score`` column is used for AP.
    diameter : float
        Particle diameter, physical units (voxels when ``voxel_size`` is 1).
    voxel_size : float or tuple of 3 float
        Voxel size (z, y, x).
    truth : pandas.DataFrame or array_like, optional
        True positions: adds the truth's statistics and the clean metric.
    match_fraction : float
        Matching distance of the clean metric, as a fraction of the diameter.

    Returns
    -------
    ReportData
    """
    from voxpick.metrics import evaluate

    vs = as_triple(voxel_size, name="voxel_size")
    if not (np.isfinite(diameter) and diameter > 0):
        raise ValueError(
            f"diameter={diameter!r} must be a positive number (physical units), e.g. 8."
        )
    shape = (int(volume_shape[0]), int(volume_shape[1]), int(volume_shape[2]))
    det = check_positions(detections, name="detections")
    data = ReportData()
    data.stats["volume shape (z, y, x)"] = " × ".join(str(s) for s in shape)
    data.stats["voxel size (z, y, x)"] = ", ".join(f"{v:g}" for v in vs)
    data.stats["diameter d"] = float(diameter)
    data.stats["detections"] = len(det)
    if truth is not None:
        data.stats["truth particles"] = len(check_positions(truth, name="truth"))
    _structure("detections", det, shape=shape, diameter=diameter, voxel_size=vs, data=data)
    data.stats["neighbour cutoff (d)"] = data.cutoff / diameter
    if truth is not None:
        tru = check_positions(truth, name="truth")
        _structure("truth", tru, shape=shape, diameter=diameter, voxel_size=vs, data=data)
        ev = evaluate(
            truth, detections, diameter=diameter, voxel_size=vs, match_fraction=match_fraction
        )
        for key in ("precision", "recall", "f1", "ap", "mean_error", "tp", "fp", "fn"):
            data.stats[f"metric: {key}"] = getattr(ev, key)
    return data


def _table(stats: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><td>{html.escape(k)}</td><td class="v">{html.escape(_fmt(v))}</td></tr>'
        for k, v in stats.items()
    )
    return f"<table>{rows}</table>"


def build_report(
    volume: Any,
    detections: Any,
    *,
    diameter: float,
    voxel_size: Any = 1,
    truth: Any = None,
    point: Any = None,
    match_fraction: float = 0.5,
    title: str = "voxpick report",
) -> str:
    """Build a self-contained HTML page describing one tracking result.

    Parameters
    ----------
    volume : array_like
        3D image (z, y, x).
    detections : pandas.DataFrame or array_like
        Positions (z, y, x) in voxels (an optional ``score`` column is used for AP).
    diameter : float
        Particle diameter, physical units (voxels when ``voxel_size`` is 1).
    voxel_size : float or tuple of 3 float
        Voxel size (z, y, x).
    truth : pandas.DataFrame or array_like, optional
        True positions; adds found / false / missed colouring, the truth's g(r) and the clean
        metric (precision, recall, F1, AP).
    point : sequence of 3 float, optional
        (z, y, x) voxel the orthogonal slices pass through; the volume centre by default.
    match_fraction : float
        Matching distance, fraction of the diameter (clean metric and overlay colours).
    title : str
        Page title.

    Returns
    -------
    str
        The HTML document. Save it with :func:`save_report`.
    """
    from voxpick.plot import plot_gr, plot_orthogonal, plot_pr

    vol = check_volume(volume)
    vs = as_triple(voxel_size, name="voxel_size")
    data = analyse(
        (vol.shape[0], vol.shape[1], vol.shape[2]),
        detections,
        diameter=diameter,
        voxel_size=vs,
        truth=truth,
        match_fraction=match_fraction,
    )
    diam_vox = (diameter / vs[0], diameter / vs[1], diameter / vs[2])
    axes = plot_orthogonal(
        vol, detections, diameter=diam_vox, point=point, truth=truth,
        match_fraction=match_fraction, voxel_size=vs,
    )  # fmt: skip
    overlay = _png(axes[0].figure, dpi=70)
    gr_ax = plot_gr(data.rdf, diameter=diameter, cutoff=data.cutoff)
    gr_ax.set_title("pair correlation g(r), translation edge correction")
    figures = [("g(r)", _png(gr_ax.figure))]
    nn = nearest_neighbour_distances(detections, voxel_size=vs) / diameter
    if nn.size:
        nn_ax = Figure(figsize=(5.0, 3.5), layout="constrained").add_subplot()
        nn_ax.hist(nn, bins=list(np.linspace(0, max(2.0, float(nn.max())), 41)), color="tab:blue")
        nn_ax.axvline(0.8, color="red", lw=0.8, ls=":", label="0.8 d (overlap)")
        nn_ax.set_xlabel("nearest-neighbour distance / diameter")
        nn_ax.set_ylabel("particles")
        nn_ax.legend(fontsize="small")
        figures.append(("nearest neighbours", _png(nn_ax.figure)))
    if truth is not None:
        from voxpick.metrics import pr_curve

        curve = pr_curve(
            truth, detections, diameter=diameter, voxel_size=vs, match_fraction=match_fraction
        )
        pr_ax = plot_pr(curve, label=f"match within {match_fraction:g} d")
        figures.append(("precision-recall", _png(pr_ax.figure)))
    metrics = {k[8:]: v for k, v in data.stats.items() if k.startswith("metric: ")}
    general = {k: v for k, v in data.stats.items() if not k.startswith("metric: ")}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        '<p class="muted">Distances in diameters (d) unless stated; "interior" statistics '
        "leave out particles whose neighbourhood is cut by a face of the volume.</p>",
    ]
    if metrics:
        parts += ["<h2>Detection metrics (clean, Hungarian)</h2>", _table(metrics)]
    parts += [
        "<h2>Orthogonal slices</h2>",
        f'<img alt="orthogonal slices" src="{overlay}">',
        "<h2>Structure</h2>",
        '<div class="grid"><div>',
        _table(general),
        "</div><div>",
        *(f'<img alt="{html.escape(name)}" src="{uri}">' for name, uri in figures),
        "</div></div>",
        '<p class="muted">Generated by voxpick.</p></body></html>',
    ]
    return "\n".join(parts)


def save_report(path: str | os.PathLike[str], report: str) -> Path:
    """Write an HTML report atomically (the file is complete or absent).

    Parameters
    ----------
    path : str or os.PathLike
        Destination, e.g. ``report.html``.
    report : str
        HTML text from :func:`build_report`.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    final = Path(path)
    with atomic_path(final) as tmp:
        tmp.write_text(report, encoding="utf-8")
    return final
