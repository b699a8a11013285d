"""``voxpick evaluate``: score a prediction CSV against a truth CSV."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from voxpick.cli.common import user_errors
from voxpick.cli.grammar import parse_triple
from voxpick.io.atomic import atomic_path
from voxpick.io.positions import numeric_columns
from voxpick.metrics import challenge_ap, czii_score, evaluate, interpolated_ap, pr_curve
from voxpick.plot import plot_pr
from voxpick.validation import as_triple


class Metric(enum.StrEnum):
    """Metrics offered by ``voxpick evaluate``."""

    clean = "clean"
    challenge = "challenge"
    czii = "czii"


def _parse_triple(text: str, *, name: str) -> tuple[float, float, float]:
    return as_triple(parse_triple(text, name=name), name=name)  # the commands' one grammar


def _read_csv(path: Path, *, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {str(path)!r} does not exist: check the path.")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{what} file {str(path)!r} is not a readable CSV: {err}") from err


def _read_points(path: Path, *, what: str) -> pd.DataFrame:
    df = _read_csv(path, what=what)
    missing = [c for c in ("z", "y", "x") if c not in df.columns]
    if missing:
        raise ValueError(
            f"{what} file {str(path)!r} lacks columns {missing}: expected z, y, x (voxels) and "
            f"optionally score (found {list(df.columns)}). For CZII files use --metric czii."
        )
    return numeric_columns(df, ("z", "y", "x", "score"), source=f"{what} file {str(path)!r}")


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, int | np.integer):
        return str(int(value))
    value = float(value)
    return "nan" if np.isnan(value) else f"{value:.{digits}f}"


def _save_plot(ax: Any, path: Path) -> None:
    fmt = path.suffix.lstrip(".").lower()
    supported = ax.figure.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(
            f"--plot {str(path)!r} has an unsupported extension: expected one of "
            f"{sorted(supported)}, e.g. pr.png."
        )
    with atomic_path(path) as tmp:
        ax.figure.savefig(tmp, format=fmt, dpi=150)


def _run_clean(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    diameter: float,
    voxel_size: tuple[float, float, float],
    match_fraction: float,
    border: float,
    canvas: tuple[float, float, float] | None,
    plot: Path | None,
    console: Console,
) -> None:
    common: dict[str, Any] = {
        "voxel_size": voxel_size,
        "border": border,
        "canvas_size": canvas,
        "match_fraction": match_fraction,
    }
    ev = evaluate(truth, pred, diameter=diameter, **common)
    table = Table(title="clean metric")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("match distance", ev.max_distance),
        ("truth", ev.n_truth),
        ("predictions", ev.n_pred),
        ("TP", ev.tp),
        ("FP", ev.fp),
        ("FN", ev.fn),
        ("precision", ev.precision),
        ("recall", ev.recall),
        ("F1", ev.f1),
        ("mean error", ev.mean_error),
        ("AP (0.1-0.5 d)", ev.ap),
    ]
    for name, value in rows:
        table.add_row(name, _fmt(value))
    console.print(table)
    if plot is not None:
        curve = pr_curve(truth, pred, diameter=diameter, **common)
        ap_here = interpolated_ap(curve["precision"], curve["recall"])
        ax = plot_pr(curve, label=f"AP at {match_fraction:g} d = {ap_here:.3f}")
        ax.set_title(f"PR curve, match within {match_fraction:g} x diameter")
        _save_plot(ax, plot)


def _run_challenge(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    diameter: float,
    canvas: tuple[float, float, float],
    plot: Path | None,
    console: Console,
) -> None:
    ap, precisions, recalls = challenge_ap(truth, pred, diameter=diameter, canvas_size=canvas)
    table = Table(title=f"colloid challenge AP = {ap:.4f}")
    table.add_column("threshold", justify="right")
    table.add_column("precision", justify="right")
    table.add_column("recall", justify="right")
    recall_by_threshold = recalls[::-1]
    for i, th in enumerate(np.linspace(0, 1, 10)):
        table.add_row(f"{th:.3f}", _fmt(precisions[i]), _fmt(recall_by_threshold[i]))
    console.print(table)
    console.print(f"challenge AP: {ap:.6f}")
    if plot is not None:
        # The curve the scorer integrates: precision[i] against reversed recall[i].
        curve = pd.DataFrame({"recall": recalls, "precision": precisions})
        ax = plot_pr(curve, label=f"challenge AP = {ap:.3f}")
        ax.set_title("colloid challenge (as integrated)")
        _save_plot(ax, plot)


def _run_czii(pred_path: Path, truth_path: Path, *, beta: float, console: Console) -> None:
    xyz = ("x", "y", "z")
    submission = _read_csv(pred_path, what="PRED")
    submission = numeric_columns(submission, xyz, source=f"PRED file {str(pred_path)!r}")
    solution = _read_csv(truth_path, what="TRUTH")
    solution = numeric_columns(solution, xyz, source=f"TRUTH file {str(truth_path)!r}")
    score, per_class = czii_score(solution, submission, beta=beta)
    table = Table(
        title=f"CZII F{beta:g} = {score:.4f} (weights: sum 7)",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("particle_type", no_wrap=True)
    headers = {"weight": "w", "n_truth": "truth", "n_pred": "picks", "tp": "tp", "fp": "fp"}
    headers |= {"fn": "fn", "precision": "P", "recall": "R", "fbeta": f"F{beta:g}"}
    for header in headers.values():
        table.add_column(header, justify="right", no_wrap=True)
    for rec in per_class.to_dict("records"):
        cells = [_fmt(rec[c], digits=3) for c in headers]
        table.add_row(str(rec["particle_type"]), *cells)
    console.print(table)
    console.print(f"CZII score: {score:.6f}")


def evaluate_command(
    pred: Annotated[
        Path, typer.Argument(metavar="PRED", help="Predictions CSV: z,y,x[,score] (voxels).")
    ],
    truth: Annotated[
        Path, typer.Argument(metavar="TRUTH", help="Ground-truth CSV: z,y,x (voxels).")
    ],
    diameter: Annotated[
        float | None,
        typer.Option(help="Particle diameter (physical units; voxels if --voxel-size is 1)."),
    ] = None,
    metric: Annotated[
        Metric, typer.Option(case_sensitive=False, help="clean (default), challenge or czii.")
    ] = Metric.clean,
    plot: Annotated[
        Path | None, typer.Option(help="Write the PR curve to this image (e.g. pr.png).")
    ] = None,
    voxel_size: Annotated[
        str, typer.Option(help="Voxel size: one number or Z,Y,X (clean metric).")
    ] = "1",
    match_fraction: Annotated[
        float, typer.Option(help="Match within this fraction of the diameter (clean metric).")
    ] = 0.5,
    border: Annotated[
        float, typer.Option(help="Ignore this margin at the volume faces; needs --canvas-size.")
    ] = 0.0,
    canvas_size: Annotated[
        str | None,
        typer.Option(help="Volume shape Z,Y,X in voxels (required for --metric challenge)."),
    ] = None,
    beta: Annotated[float, typer.Option(help="F-beta parameter for --metric czii.")] = 4.0,
) -> None:
    """Score predicted particle positions against the ground truth and print a table."""
    console = Console()
    with user_errors():
        canvas = None if canvas_size is None else _parse_triple(canvas_size, name="--canvas-size")
        if metric is Metric.czii:
            if plot is not None:
                raise ValueError("--plot is not available with --metric czii: drop --plot.")
            _run_czii(pred, truth, beta=beta, console=console)
            return
        if diameter is None:
            raise ValueError(
                f"--metric {metric.value} needs --diameter: pass the particle diameter, "
                "e.g. --diameter 10."
            )
        pred_df = _read_points(pred, what="PRED")
        truth_df = _read_points(truth, what="TRUTH")
        if metric is Metric.challenge:
            if canvas is None:
                raise ValueError(
                    "--metric challenge needs --canvas-size Z,Y,X (the volume shape in voxels, "
                    "e.g. 128,128,128) for its border rule."
                )
            _run_challenge(
                pred_df, truth_df, diameter=diameter, canvas=canvas, plot=plot, console=console
            )
            return
        _run_clean(
            pred_df,
            truth_df,
            diameter=diameter,
            voxel_size=_parse_triple(voxel_size, name="--voxel-size"),
            match_fraction=match_fraction,
            border=border,
            canvas=canvas,
            plot=plot,
            console=console,
        )


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` command to ``app``.

    Parameters
    ----------
    app : typer.Typer
        The ``voxpick`` application.
    """
    app.command("evaluate")(evaluate_command)
