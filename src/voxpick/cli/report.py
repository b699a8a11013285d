"""``voxpick report``: one self-contained HTML page describing a tracking result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from voxpick.cli.common import user_errors
from voxpick.cli.grammar import KeyOption, parse_triple
from voxpick.cli.inputs import open_input, quiet_calibration


def report_command(
    volume: Annotated[
        Path,
        typer.Argument(
            metavar="VOLUME",
            help="Volume file (.tif, .h5, .npy, .mrc, .raw with --shape, .zarr / OME-Zarr).",
        ),
    ],
    detections: Annotated[
        Path,
        typer.Argument(metavar="DETECTIONS", help="Detections CSV/Parquet: z,y,x[,score] voxels."),
    ],
    diameter: Annotated[
        str | None,
        typer.Option(
            help="Particle diameter: one number or Z,Y,X, in the unit of the voxel size, or "
            "with a unit (1.2um, 12px). Default: the one `voxpick locate` recorded beside "
            "DETECTIONS (NAME.csv.json or the Parquet metadata)."
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output HTML file.")] = Path(
        "report.html"
    ),
    truth: Annotated[
        Path | None, typer.Option(help="Ground-truth CSV/Parquet (z,y,x): adds metrics.")
    ] = None,
    voxel_size: Annotated[
        str | None,
        typer.Option(
            help="Voxel size: one number or Z,Y,X, optionally with a unit. Default: the file's "
            "calibration, else 1."
        ),
    ] = None,
    point: Annotated[
        str | None, typer.Option(help="Z,Y,X voxel the slices pass through (default: centre).")
    ] = None,
    key: KeyOption = None,
    shape: Annotated[
        str | None, typer.Option(help="Z,Y,X size of a headerless .raw uint8 volume.")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
) -> None:
    """Write an HTML report: overlays, g(r), neighbours, q6, detections per z plane, metrics."""
    from voxpick.analysis.report import report
    from voxpick.cli.grammar import triple_text
    from voxpick.io import read_positions

    console = Console(stderr=True)
    with user_errors():
        if out.suffix.lower() not in (".html", ".htm"):
            raise ValueError(f"--out {str(out)!r} must end in .html, e.g. -o report.html.")
        where = None if point is None else parse_triple(point, name="--point")
        if where is not None and not isinstance(where, tuple):
            raise ValueError(f"--point {point!r} needs 3 values Z,Y,X, e.g. 32,64,64.")
        det = read_positions(detections)
        tru = None if truth is None else read_positions(truth)
        origin = "--voxel-size"
        if diameter is None:
            recorded = det.attrs.get("diameter")
            if recorded is None:
                raise ValueError(
                    f"{detections} does not record the diameter it was located with: pass "
                    "--diameter, e.g. --diameter 8."
                )
            diameter = triple_text(recorded)
            if voxel_size is None and det.attrs.get("voxel_size") is not None:
                voxel_size = triple_text(det.attrs["voxel_size"])
                origin = f"recorded with {detections.name}"
        source = open_input(
            volume, diameter=diameter, voxel_size=voxel_size, key=key, shape=shape,
            console=console, origin=origin,
        )  # fmt: skip
        with quiet_calibration():
            page = report(
                source.read(), det, diameter=source.scale.diameter,
                voxel_size=source.scale.voxel_size, truth=tru, point=where,
                title=title or f"voxpick report: {detections.name}", out=out,
            )  # fmt: skip
    console.print(f"wrote {out} ({len(det)} detections)", soft_wrap=True, markup=False)
    bands = page.stats.get("z planes with a band of detections", "none")
    if bands != "none":
        console.print(
            f"note: z planes {bands} hold far more detections than the others (a coverslip or "
            "a bright layer?): see 'detections per z plane' in the report; raise "
            "--min-relative of `voxpick locate --method classical` against a coverslip.",
            soft_wrap=True, markup=False,
        )  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app``.

    Parameters
    ----------
    app : typer.Typer
        The ``voxpick`` application.
    """
    app.command("report")(report_command)
