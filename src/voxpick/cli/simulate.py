"""``voxpick simulate``: write simulated volumes in the colloid challenge's dataset format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from voxpick.cli.common import err_console, user_errors


def parse_range(text: str | None, *, name: str) -> float | tuple[float, float] | None:
    """Parse ``"0.3"`` into 0.3 and ``"0.1,0.55"`` into ``(0.1, 0.55)``."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError as err:
        raise ValueError(
            f"--{name} {text!r} is not a number or range: expected e.g. 0.3 or 0.1,0.55."
        ) from err
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return (values[0], values[1])
    raise ValueError(f"--{name} {text!r} has {len(values)} values: expected one or two.")


def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of volumes.")] = 10,
    size: Annotated[int, typer.Option("--size", min=4, help="Edge length of each cube (px).")] = 64,
    volfrac: Annotated[str | None, typer.Option(help="Volume fraction or range lo,hi.")] = None,
    radius: Annotated[str | None, typer.Option(help="Radius (px) or range lo,hi.")] = None,
    polydispersity: Annotated[str | None, typer.Option(help="Relative size spread.")] = None,
    particle_size: Annotated[str | None, typer.Option(help="Radius in um, or range.")] = None,
    brightness: Annotated[str | None, typer.Option(help="Particle grey level, or range.")] = None,
    snr: Annotated[str | None, typer.Option(help="Signal-to-noise ratio, or range.")] = None,
    cnr: Annotated[str | None, typer.Option(help="Contrast-to-noise ratio, or range.")] = None,
    layout: Annotated[str, typer.Option(help="fluid, gel or fcc.")] = "fluid",
    invert: Annotated[bool, typer.Option(help="Dark particles on a bright background.")] = False,
    dim_order: Annotated[str, typer.Option(help="CSV column for array axes 0,1,2.")] = "ZXY",
    seed: Annotated[int | None, typer.Option(help="Seed for a reproducible dataset.")] = None,
) -> None:
    """Simulate volumes with exact truth in the colloid challenge's format.

    Writes OUT/x.hdf5 (one dataset per index), OUT/y.csv (image_index,Z,X,Y padded to 2000 rows
    per image) and OUT/metadata.csv. Ranges are drawn uniformly per volume; defaults span the
    challenge's training distribution.
    """
    from voxpick.io.challenge import ChallengeDatasetWriter
    from voxpick.simulate import ParameterRanges, simulate_dataset

    with user_errors():
        ranges = ParameterRanges.from_values(
            volfrac=parse_range(volfrac, name="volfrac"),
            radius=parse_range(radius, name="radius"),
            polydispersity=parse_range(polydispersity, name="polydispersity"),
            particle_size=parse_range(particle_size, name="particle-size"),
            brightness=parse_range(brightness, name="brightness"),
            snr=parse_range(snr, name="snr"),
            cnr=parse_range(cnr, name="cnr"),
        )
        volumes = simulate_dataset(
            n, shape=size, ranges=ranges, rng=seed, layout=layout, invert=invert
        )
        with (
            ChallengeDatasetWriter(out, dim_order=dim_order) as writer,
            Progress(console=err_console, transient=True) as progress,
        ):
            task = progress.add_task("simulating", total=n)
            for sim in volumes:
                writer.add(sim.volume, sim.positions, sim.metadata)
                progress.advance(task)
    err_console.print(f"wrote {n} volumes to {out}")


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to ``app``."""
    app.command("simulate")(simulate)
