"""``voxpick report``: one self-contained HTML page describing a tracking result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from voxpick.cli.common import user_errors


def _parse_numbers(text: str, *, name: str, count: int) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"{name}={text!r} is not a number list: expected one number or Z,Y,X, e.g. 0.2,0.1,0.1."
        ) from None
    if len(values) not in (1, count):
        raise ValueError(f"{name}={text!r} has {len(values)} values: expected 1 or {count}.")
    return values


def report_command(
    volume: Annotated[
        Path, typer.Argument(metavar="VOLUME", help="Volume file (.tif, .h5, .npy, .raw).")
    ],
    detections: Annotated[
        Path,
        typer.Argument(metavar="DETECTIONS", help="Detections CSV/Parquet: z,y,x[,score] voxels."),
    ],
    diameter: Annotated[
        float, typer.Option(help="Particle diameter (physical units; voxels if --voxel-size 1).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output HTML file.")] = Path(
        "report.html"
    ),
    truth: Annotated[
        Path | None, typer.Option(help="Ground-truth CSV/Parquet (z,y,x): adds metrics.")
    ] = None,
    voxel_size: Annotated[str, typer.Option(help="Voxel size: one number or Z,Y,X.")] = "1",
    point: Annotated[
        str | None, typer.Option(help="Z,Y,X voxel the slices pass through (default: centre).")
    ] = None,
    key: Annotated[str | None, typer.Option(help="HDF5 dataset name of the volume.")] = None,
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
) -> None:
    """Write an HTML report: overlays, g(r), volume fraction, neighbours, q6 and metrics."""
    from voxpick.analysis.report import build_report, save_report
    from voxpick.io import read_positions, read_volume

    console = Console()
    with user_errors():
        vs = _parse_numbers(voxel_size, name="--voxel-size", count=3)
        where = None if point is None else _parse_numbers(point, name="--point", count=3)
        if where is not None and len(where) != 3:
            raise ValueError(f"--point={point!r} needs 3 values Z,Y,X, e.g. 32,64,64.")
        vol = read_volume(volume, key=key)
        det = read_positions(detections)
        tru = None if truth is None else read_positions(truth)
        html = build_report(
            vol,
            det,
            diameter=diameter,
            voxel_size=vs[0] if len(vs) == 1 else tuple(vs),
            truth=tru,
            point=where,
            title=title or f"voxpick report: {detections.name}",
        )
        save_report(out, html)
    console.print(f"wrote {out} ({len(det)} detections)")


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app``.

    Parameters
    ----------
    app : typer.Typer
        The ``voxpick`` application.
    """
    app.command("report")(report_command)
