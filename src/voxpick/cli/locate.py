"""``voxpick locate``: find the particles of one volume file and write them as CSV."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from voxpick.cli.common import user_errors
from voxpick.validation import as_triple


def parse_triple(text: str, *, name: str) -> float | tuple[float, float, float]:
    """Parse ``"10"`` into 10.0 and ``"15,11,11"`` into ``(15.0, 11.0, 11.0)`` (z, y, x).

    Parameters
    ----------
    text : str
        One number, or three separated by commas.
    name : str
        Option name for error messages.

    Returns
    -------
    float or tuple of 3 float
    """
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"{name} {text!r} is not a number list: expected one number or Z,Y,X, e.g. 10 or "
            "15,11,11."
        ) from None
    if len(values) == 1:
        return values[0]
    if len(values) != 3:
        raise ValueError(
            f"{name} {text!r} has {len(values)} values: expected one number or three (Z,Y,X)."
        )
    return as_triple(values, name=name, positive=False)


def _parse_shape(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        dims = tuple(int(p.strip()) for p in text.split(","))
    except ValueError:
        raise ValueError(f"--shape {text!r} is not Z,Y,X integers, e.g. 31,64,64.") from None
    if len(dims) != 3 or min(dims) <= 0:
        raise ValueError(f"--shape {text!r} must be three positive integers Z,Y,X.")
    return (dims[0], dims[1], dims[2])


def locate_command(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="Volume file, axes (z, y, x): .tif/.tiff, .npy, .h5/.hdf5 or .raw (with --shape).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output CSV (z,y,x,score,...).")],
    diameter: Annotated[
        str,
        typer.Option(help="Particle diameter: one number or Z,Y,X, in the units of --voxel-size."),
    ],
    voxel_size: Annotated[
        str, typer.Option(help="Voxel size: one number or Z,Y,X (default 1: diameter in voxels).")
    ] = "1",
    invert: Annotated[
        bool, typer.Option("--invert", help="Particles are darker than the background.")
    ] = False,
    method: Annotated[str, typer.Option(help="Detection method (classical).")] = "classical",
    threshold: Annotated[
        float | None,
        typer.Option(help="Minimum score (signal-to-noise); default chosen per volume."),
    ] = None,
    shape: Annotated[
        str | None, typer.Option(help="Z,Y,X size of a headerless .raw uint8 volume.")
    ] = None,
) -> None:
    """Find every particle in a 3D volume and write one CSV row per particle.

    Positions are sub-voxel (z, y, x) voxel coordinates; score is a signal-to-noise ratio.
    """
    from voxpick.detect import locate
    from voxpick.io import read_volume, write_positions

    console = Console(stderr=True)
    with user_errors():
        d = parse_triple(diameter, name="--diameter")
        vs = parse_triple(voxel_size, name="--voxel-size")
        if out.suffix.lower() != ".csv":
            raise ValueError(f"--out {str(out)!r} must end in .csv, e.g. -o particles.csv.")
        volume = read_volume(input_path, shape=_parse_shape(shape))
        kwargs = {} if threshold is None else {"threshold": threshold}
        start = time.perf_counter()
        found = locate(volume, diameter=d, voxel_size=vs, method=method, invert=invert, **kwargs)
        elapsed = time.perf_counter() - start
        write_positions(out, found)
    extra = ""
    if "threshold" in found.attrs:
        extra = f", score >= {found.attrs['threshold']:.2f}"
    console.print(
        f"{len(found)} particles in {input_path.name} {tuple(volume.shape)} "
        f"({elapsed:.2f} s{extra}) -> {out}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``locate`` command to ``app``.

    Parameters
    ----------
    app : typer.Typer
        The ``voxpick`` application.
    """
    app.command("locate")(locate_command)
