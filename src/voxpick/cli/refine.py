"""``voxpick refine``: fit the image model to found particles and write the refined table.

A thin wrapper over :func:`voxpick.refine`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from voxpick.cli.common import user_errors
from voxpick.cli.grammar import (
    DiameterOption,
    InvertOption,
    KeyOption,
    RawShapeOption,
    VoxelSizeOption,
    parse_triple,
)
from voxpick.cli.inputs import open_input, quiet_calibration


def refine_command(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="VOLUME",
            help="Volume, axes (z, y, x): .tif/.tiff, .npy, .h5/.hdf5, .raw (with --shape), or a "
            ".zarr / OME-Zarr directory.",
        ),
    ],
    particles: Annotated[
        Path,
        typer.Argument(
            metavar="PARTICLES",
            help="Particles found in it (.csv or .parquet with z, y, x in voxels), e.g. the "
            "output of voxpick locate.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output .csv or .parquet (refined positions).")
    ],
    diameter: DiameterOption,
    voxel_size: VoxelSizeOption = None,
    invert: InvertOption = False,
    moves: Annotated[
        bool,
        typer.Option(
            "--moves/--no-moves",
            help="Add the particles the residual shows and remove those the data do not need "
            "(default), or only refine the positions given.",
        ),
    ] = True,
    shape: RawShapeOption = None,
    key: KeyOption = None,
    chunks: Annotated[
        str | None,
        typer.Option(help="Refine block by block with this core edge (one number or Z,Y,X)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress of the blocks.")] = True,
) -> None:
    """Refine particle positions by fitting the image model; add the missed, drop the extra.

    Writes the detection columns (positions refined) plus sigma_z, sigma_y, sigma_x: each
    coordinate's standard deviation in voxels. A .csv output gets a .csv.json sidecar.
    """
    from voxpick.io import read_positions
    from voxpick.refinement import refine

    console = Console(stderr=True)
    with user_errors():
        if out.suffix.lower() not in (".csv", ".parquet"):
            raise ValueError(
                f"--out {str(out)!r} must end in .csv or .parquet, e.g. -o refined.csv."
            )
        source = open_input(
            input_path, diameter=diameter, voxel_size=voxel_size, key=key, shape=shape,
            console=console,
        )  # fmt: skip
        table = read_positions(particles)
        core: Any = None if chunks is None else parse_triple(chunks, name="--chunks", integer=True)
        start = time.perf_counter()
        with quiet_calibration():
            refined = refine(
                source.read(), table, diameter=source.scale.diameter,
                voxel_size=source.scale.voxel_size, invert=invert, moves=moves, chunks=core,
                out=out, progress=progress,
            )  # fmt: skip
    info = refined.attrs.get("refine", {})
    console.print(
        f"{len(refined)} particles ({info.get('n_added', 0)} added, "
        f"{info.get('n_removed', 0)} removed of {len(table)}) in "
        f"{time.perf_counter() - start:.1f} s -> {out}",
        soft_wrap=True, markup=False, highlight=False,
    )  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add the ``refine`` command to ``app``.

    Parameters
    ----------
    app : typer.Typer
        The ``voxpick`` application.
    """
    app.command("refine")(refine_command)
