"""A per-class HTML report of cryo-ET picks: precision and recall, and what went wrong where.

With the true particles, every pick and every true particle is labelled by the CZII rule
(:func:`voxpick.metrics.czii_outcomes`): *found* (a true particle hit by a pick of its class),
*false* (a pick that hits no particle of its class: on a particle of another class, or on
nothing) and *missed* (a particle no pick of its class hits: picked as another class, or not at
all). For each class the page shows the counts, precision, recall and F-beta, and example crops
of each kind: the highest-scoring found and false picks (the most confident mistakes come
first) and the missed particles. Without the truth it shows the picks per class and crops of the
highest- and lowest-scoring ones. Crops are the mean of three xy slices through the centre,
four radii wide, with the class radius drawn.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from voxpick.analysis.report import _STYLE, _png
from voxpick.metrics.czii import CziiParticle, czii_outcomes, czii_score
from voxpick.validation import as_triple, check_volume

__all__ = ["PicksReportData", "analyse_picks", "build_picks_report"]

#: Edge colour of the radius circle drawn on each kind of crop.
_COLOURS = {"found": "#2ca02c", "false": "#d62728", "missed": "#ff7f0e", "picks": "#1f77b4"}


@dataclass
class PicksReportData:
    """Numbers and labels behind the report (also useful on their own).

    Attributes
    ----------
    per_class : pandas.DataFrame
        One row per class: ``particle_type, radius_A, n_truth, n_picks``, and with the truth
        ``tp, fp, fn, precision, recall, fbeta, fp_on_other_class, fn_picked_as_other``.
    picks : pandas.DataFrame
        The picks (voxels), with the truth also ``hit`` and ``truth_type``.
    truth : pandas.DataFrame or None
        The true particles (voxels) with ``found`` and ``picked_as``.
    score : float
        Mean F-beta over the classes (every class weighted 1), NaN without the truth.
    """

    per_class: pd.DataFrame
    picks: pd.DataFrame
    truth: pd.DataFrame | None = None
    score: float = float("nan")


def _frame(df: Any, *, name: str, radii: Mapping[str, float]) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"{name} is a {type(df).__name__}: expected a pandas.DataFrame with columns "
            "particle_type, z, y, x (voxels)."
        )
    missing = [c for c in ("particle_type", "z", "y", "x") if c not in df.columns]
    if missing:
        raise ValueError(
            f"{name} is missing columns {missing}: expected particle_type, z, y, x in voxels "
            f"(found {list(df.columns)}); convert Angstrom with picks_to_voxels."
        )
    unknown = sorted(set(df["particle_type"].astype(str)) - set(radii))
    if unknown:
        raise ValueError(
            f"{name} has particle types {unknown} without a radius: radii_A has {sorted(radii)}."
        )
    out = df.reset_index(drop=True).copy()
    out["particle_type"] = out["particle_type"].astype(str)
    return out


def analyse_picks(
    picks: pd.DataFrame,
    *,
    radii_A: Mapping[str, float],
    voxel_size: Any,
    truth: pd.DataFrame | None = None,
    beta: float = 4.0,
    distance_multiplier: float = 0.5,
) -> PicksReportData:
    """Count, score and label picks per class.

    Parameters
    ----------
    picks : pandas.DataFrame
        ``particle_type``, ``z, y, x`` in voxels, optional ``score`` (what
        :func:`voxpick.cryoet.pick` returns).
    radii_A : mapping of str to float
        Radius of each class in Angstrom; its order is the order of the classes.
    voxel_size : float or tuple of 3 floats
        ``(z, y, x)`` Angstrom per voxel.
    truth : pandas.DataFrame, optional
        True particles, ``particle_type`` and ``z, y, x`` in voxels.
    beta, distance_multiplier : float
        As for :func:`voxpick.metrics.czii_score` (4 and 0.5 in the CZII competition).

    Returns
    -------
    PicksReportData
    """
    radii = {str(k): float(v) for k, v in radii_A.items()}
    if not radii:
        raise ValueError("radii_A is empty: give the radius (Angstrom) of every class.")
    vs = np.asarray(as_triple(voxel_size, name="voxel_size"))
    found = _frame(picks, name="picks", radii=radii)
    counts = found["particle_type"].value_counts()
    table = pd.DataFrame(
        {
            "particle_type": list(radii),
            "radius_A": list(radii.values()),
            "n_picks": [int(counts.get(n, 0)) for n in radii],
        }
    )
    if truth is None:
        return PicksReportData(per_class=table, picks=found)
    true = _frame(truth, name="truth", radii=radii)
    particles = [CziiParticle(n, r, 1) for n, r in radii.items()]

    def angstrom(df: pd.DataFrame) -> pd.DataFrame:
        zyx = df[["z", "y", "x"]].to_numpy(dtype=float) * vs
        return df.assign(experiment="t", z=zyx[:, 0], y=zyx[:, 1], x=zyx[:, 2])

    dm = distance_multiplier
    score, per_class = czii_score(
        angstrom(true), angstrom(found), beta=beta, distance_multiplier=dm, particles=particles
    )
    labelled, true_labelled = czii_outcomes(
        angstrom(true), angstrom(found), distance_multiplier=dm, particles=particles
    )
    found = found.assign(hit=labelled["hit"].to_numpy(), truth_type=labelled["truth_type"])
    true = true.assign(
        found=true_labelled["found"].to_numpy(), picked_as=true_labelled["picked_as"]
    )
    other_fp = found.loc[~found["hit"] & (found["truth_type"] != "")]["particle_type"]
    other_fn = true.loc[~true["found"] & (true["picked_as"] != "")]["particle_type"]
    per_class = per_class.rename(columns={"n_pred": "n_picks"}).drop(columns="weight")
    per_class["fp_on_other_class"] = [int((other_fp == n).sum()) for n in radii]
    per_class["fn_picked_as_other"] = [int((other_fn == n).sum()) for n in radii]
    return PicksReportData(per_class=per_class, picks=found, truth=true, score=score)


def _crop(volume: np.ndarray, centre: Any, half: int) -> np.ndarray:
    """Mean of three xy slices through ``centre``, ``2 half + 1`` wide, NaN outside."""
    z, y, x = (round(float(c)) for c in centre)
    z0, z1 = max(0, z - 1), min(volume.shape[0], z + 2)
    out = np.full((2 * half + 1, 2 * half + 1), np.nan)
    if z0 >= z1:
        return out
    ys, xs = slice(max(0, y - half), y + half + 1), slice(max(0, x - half), x + half + 1)
    block = volume[z0:z1, ys, xs].astype(float).mean(axis=0)
    oy, ox = ys.start - (y - half), xs.start - (x - half)
    out[oy : oy + block.shape[0], ox : ox + block.shape[1]] = block
    return out


def _gallery(
    volume: np.ndarray,
    rows: list[tuple[str, str, pd.DataFrame]],
    *,
    radius_px: float,
    examples: int,
    limits: tuple[float, float],
) -> str:
    """Draw one row of crops per kind and return the figure as a PNG data URI."""
    half = max(4, int(np.ceil(2 * radius_px)))
    fig = Figure(figsize=(1.6 * examples + 1.2, 1.75 * len(rows)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), examples, squeeze=False))
    for r, (kind, label, frame) in enumerate(rows):
        axes[r, 0].set_ylabel(label, fontsize="small")
        for c in range(examples):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(frame):
                ax.set_frame_on(False)
                if c == 0:
                    ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)
                continue
            row = frame.iloc[c]
            crop = _crop(volume, (row["z"], row["y"], row["x"]), half)
            ax.imshow(crop, cmap="gray", vmin=limits[0], vmax=limits[1], interpolation="nearest")
            ax.add_patch(Circle((half, half), radius_px, fill=False, lw=1.0, ec=_COLOURS[kind]))
            ax.set_title(str(row.get("caption", "")), fontsize="x-small")
    return _png(fig, dpi=72)


def _captions(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    scores = frame["score"].tolist() if "score" in frame else [None] * len(frame)
    text = []
    for i, score in enumerate(scores):
        value = "" if score is None else f"{score:.2f}"
        if kind == "false":
            on = str(frame["truth_type"].iloc[i]) or "background"
            value += f" on {on[:14]}"
        elif kind == "missed":
            other = str(frame["picked_as"].iloc[i])
            value = f"as {other[:14]}" if other else "not picked"
        text.append(value)
    return frame.assign(caption=text)


def build_picks_report(
    volume: Any,
    picks: pd.DataFrame,
    *,
    radii_A: Mapping[str, float],
    voxel_size: Any,
    truth: pd.DataFrame | None = None,
    beta: float = 4.0,
    distance_multiplier: float = 0.5,
    examples: int = 6,
    title: str = "voxpick picks report",
) -> str:
    """Build a self-contained HTML page of cryo-ET picks, class by class.

    Parameters
    ----------
    volume : array_like
        The picked tomogram (z, y, x).
    picks, radii_A, voxel_size, truth, beta, distance_multiplier
        As for :func:`analyse_picks`.
    examples : int
        Crops per row (found, false, missed; or highest and lowest score without the truth).
    title : str
        Page title.

    Returns
    -------
    str
        The HTML document; save it with :func:`voxpick.analysis.save_report`.
    """
    vol = check_volume(volume)
    if isinstance(examples, bool) or not isinstance(examples, int) or not 1 <= examples <= 20:
        raise ValueError(f"examples={examples!r} is invalid: expected an integer from 1 to 20.")
    data = analyse_picks(
        picks, radii_A=radii_A, voxel_size=voxel_size, truth=truth, beta=beta,
        distance_multiplier=distance_multiplier,
    )  # fmt: skip
    vs = as_triple(voxel_size, name="voxel_size")
    sample = vol[:: max(1, vol.shape[0] // 16)].ravel()[::7]
    lo, hi = np.nanpercentile(sample.astype(float), [1, 99])
    limits = (float(lo), float(hi))
    with_truth = data.truth is not None
    rule = (
        f"A pick hits a true particle of its class within {distance_multiplier:g} of the "
        f"particle radius (the CZII rule); F-beta with beta = {beta:g}."
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="muted">{len(data.picks)} picks in a {" x ".join(map(str, vol.shape))} '
        f"tomogram (z, y, x) at {vs[2]:g} A per voxel. "
        + (rule if with_truth else "No true particles given: picks only.")
        + "</p>",
    ]
    if with_truth:
        parts.append(
            f"<p>Mean F-beta over the classes (each weighted 1): <b>{data.score:.3f}</b></p>"
        )
    parts += ["<h2>Per class</h2>", _html_table(data.per_class)]
    sort = (["score"], [False]) if "score" in data.picks else (["particle_type"], [True])
    for name, radius in radii_A.items():
        own = data.picks.loc[data.picks["particle_type"] == name]
        own = own.sort_values(sort[0], ascending=sort[1], kind="stable")
        if with_truth:
            assert data.truth is not None
            missed = data.truth.loc[(data.truth["particle_type"] == name) & ~data.truth["found"]]
            rows = [
                ("found", "found", _captions(own.loc[own["hit"]], "found")),
                ("false", "false", _captions(own.loc[~own["hit"]], "false")),
                ("missed", "missed", _captions(missed, "missed")),
            ]
        else:
            rows = [
                ("picks", "highest score", _captions(own, "picks")),
                ("picks", "lowest score", _captions(own.iloc[::-1], "picks")),
            ]
        uri = _gallery(vol, rows, radius_px=float(radius) / vs[2], examples=examples, limits=limits)
        parts += [
            f"<h2>{html.escape(str(name))}</h2>",
            f'<img alt="{html.escape(str(name))} examples" src="{uri}">',
        ]
    parts += [
        '<p class="muted">Crops: mean of three xy slices through the centre, four radii wide; '
        "the circle is the class radius. Captions: score, and for a false pick the class of "
        "the true particle it sits on (or background); for a missed particle the class it was "
        "picked as (or not picked).</p>",
        '<p class="muted">Generated by voxpick.</p></body></html>',
    ]
    return "\n".join(parts)


def _html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for _, row in df.iterrows():
        cells = []
        for value in row:
            if isinstance(value, float | np.floating):
                cells.append(f'<td class="v">{value:.3g}</td>')
            elif isinstance(value, int | np.integer):
                cells.append(f'<td class="v">{int(value)}</td>')
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"
