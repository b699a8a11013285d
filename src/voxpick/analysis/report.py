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
from voxpick.analysis.structure import (
    detections_per_plane,
    isotropic_scale,
    nearest_neighbour_distances,
    z_bands,
)
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
    planes : numpy.ndarray
        Detections per z plane (:func:`voxpick.analysis.detections_per_plane`).
    """

    stats: dict[str, Any] = field(default_factory=dict)
    rdf: dict[str, pd.DataFrame] = field(default_factory=dict)
    cutoff: float = float("nan")
    planes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))


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
    diameter: Any,
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
    diameter : float or sequence of 3 float
        Particle diameter, physical units (voxels when ``voxel_size`` is 1); a (z, y, x)
        triple is read as :func:`isotropic_scale` says (distances rescaled per axis).
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

    told = diameter
    diameter, vs = isotropic_scale(diameter, voxel_size)
    shape = (int(volume_shape[0]), int(volume_shape[1]), int(volume_shape[2]))
    det = check_positions(detections, name="detections")
    data = ReportData()
    data.stats["volume shape (z, y, x)"] = " × ".join(str(s) for s in shape)
    data.stats["voxel size (z, y, x)"] = ", ".join(
        f"{v:g}" for v in as_triple(voxel_size, name="voxel_size")
    )
    data.stats["diameter d"] = (
        float(told) if np.ndim(told) == 0 else ", ".join(f"{float(v):g}" for v in told)
    )
    if np.ndim(told) and vs != as_triple(voxel_size, name="voxel_size"):
        data.stats["distances rescaled to a sphere of d ="] = diameter
    data.stats["detections"] = len(det)
    if truth is not None:
        data.stats["truth particles"] = len(check_positions(truth, name="truth"))
    data.planes = detections_per_plane(det, shape=shape)
    bands = z_bands(data.planes)
    data.stats["z planes with a band of detections"] = (
        ", ".join(str(k) for k in bands) if bands else "none"
    )
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
    diameter: Any,
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
    diameter : float or sequence of 3 float
        Particle diameter, physical units (voxels when ``voxel_size`` is 1); a (z, y, x)
        triple as :func:`isotropic_scale` reads it.
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
        The HTML document. Save it with :func:`save_report`; :func:`report` does both.
    """
    return _build(
        volume, detections, diameter=diameter, voxel_size=voxel_size, truth=truth, point=point,
        match_fraction=match_fraction, title=title,
    )[0]  # fmt: skip


def _build(
    volume: Any,
    detections: Any,
    *,
    diameter: Any,
    voxel_size: Any,
    truth: Any,
    point: Any,
    match_fraction: float,
    title: str,
) -> tuple[str, ReportData]:
    from voxpick.plot import plot_gr, plot_orthogonal, plot_pr, plot_z_profile

    vol = check_volume(volume)
    real_vs = as_triple(voxel_size, name="voxel_size")
    data = analyse(
        (vol.shape[0], vol.shape[1], vol.shape[2]),
        detections,
        diameter=diameter,
        voxel_size=real_vs,
        truth=truth,
        match_fraction=match_fraction,
    )
    told = as_triple(diameter, name="diameter")
    diam_vox = (told[0] / real_vs[0], told[1] / real_vs[1], told[2] / real_vs[2])
    diameter, vs = isotropic_scale(diameter, real_vs)  # one diameter, rescaled distances
    axes = plot_orthogonal(
        vol, detections, diameter=diam_vox, point=point, truth=truth,
        match_fraction=match_fraction, voxel_size=real_vs,
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
    true_planes = None
    if truth is not None:
        true_planes = detections_per_plane(truth, shape=vol.shape)
    z_ax = plot_z_profile(data.planes, truth=true_planes)
    z_ax.set_title("detections per z plane (bands: a coverslip, a bright layer)")
    figures.append(("detections per z plane", _png(z_ax.figure)))
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
    return "\n".join(parts), data


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


@dataclass
class Report:
    """An HTML report: shown inline in Jupyter, saved with :meth:`save`.

    Attributes
    ----------
    html : str
        The self-contained page.
    data : ReportData
        Its numbers.
    path : pathlib.Path or None
        Where it was saved.
    """

    html: str
    data: ReportData
    path: Path | None = None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page atomically; return the path."""
        self.path = save_report(path, self.html)
        return self.path

    @property
    def stats(self) -> pd.Series:
        """Return the numbers of the page as a labelled series."""
        return pd.Series(self.data.stats, dtype=object)

    def __repr__(self) -> str:
        where = f", saved to {self.path}" if self.path is not None else ""
        return f"<Report: {self.data.stats.get('detections', 0)} detections{where}>"

    def _repr_html_(self) -> str:
        # an iframe keeps the page's style sheet out of the notebook's
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
            'style="width:100%;height:900px;border:1px solid #ddd"></iframe>'
        )


def report(
    volume: Any,
    detections: Any,
    *,
    diameter: Any = None,
    voxel_size: Any = None,
    truth: Any = None,
    out: str | os.PathLike[str] | None = None,
    point: Any = None,
    key: str | None = None,
    match_fraction: float = 0.5,
    title: str | None = None,
) -> Report:
    """Build the HTML report of one result from arrays, tables or files; save it if asked.

    Parameters
    ----------
    volume : array_like, str or os.PathLike
        3D image (z, y, x), or a volume file (:func:`voxpick.io.read_volume`).
    detections : pandas.DataFrame, array_like, str or os.PathLike
        Positions (z, y, x) in voxels, e.g. the result of :func:`voxpick.locate`, or a CSV /
        Parquet file of them.
    diameter : float or sequence of 3 float, optional
        Particle diameter, units of ``voxel_size``; default the ``diameter`` (and
        ``voxel_size``) that ``detections.attrs`` records (a :func:`voxpick.locate` result).
    voxel_size : float or sequence of 3 float, optional
        Voxel size (z, y, x); default the file's calibration for a volume file that records
        one (:func:`voxpick.io.read_calibration`), else 1.
    truth : pandas.DataFrame, array_like, str or os.PathLike, optional
        True positions (or their file): adds the metrics.
    out : str or os.PathLike, optional
        Also save the page here (atomically).
    point : sequence of 3 float, optional
        (z, y, x) voxel the orthogonal slices pass through.
    key : str, optional
        HDF5 dataset of ``volume``.
    match_fraction : float
        Matching distance, fraction of the diameter.
    title : str, optional
        Page title.

    Returns
    -------
    Report
        Shown inline in a notebook; ``.html``, ``.stats``, ``.save(path)``.

    Examples
    --------
    >>> import voxpick
    >>> from voxpick.simulate import simulate_volume
    >>> sim = simulate_volume(48, radius=4, volfrac=0.3, rng=0)
    >>> page = voxpick.report(sim.volume, voxpick.locate(sim.volume, diameter=8))
    >>> int(page.stats["detections"]) > 50
    True
    """
    from voxpick.io import read_positions, read_volume
    from voxpick.io.calibration import resolve_voxel_size

    if isinstance(detections, str | os.PathLike):
        title = title or f"voxpick report: {Path(detections).name}"
        detections = read_positions(detections)
    if isinstance(truth, str | os.PathLike):
        truth = read_positions(truth)
    attrs = dict(getattr(detections, "attrs", {}) or {})
    if diameter is None:
        if attrs.get("diameter") is None:
            raise ValueError(
                "diameter= is needed: the detections do not record the diameter they were "
                "located with. Pass it, e.g. report(volume, found, diameter=8)."
            )
        diameter = attrs["diameter"]
        if voxel_size is None and attrs.get("voxel_size") is not None:
            voxel_size = attrs["voxel_size"]  # the diameter's units
    voxel_size, _ = resolve_voxel_size(volume, voxel_size, key=key)
    if isinstance(volume, str | os.PathLike):
        volume = read_volume(volume, key=key)
    page, data = _build(
        volume, detections, diameter=diameter, voxel_size=voxel_size, truth=truth, point=point,
        match_fraction=match_fraction, title=title or "voxpick report",
    )  # fmt: skip
    result = Report(page, data)
    if out is not None:
        result.save(out)
    return result
