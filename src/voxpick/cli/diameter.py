"""``voxpick check-diameter``: say whether detections are consistent with the diameter."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from voxpick.cli.common import user_errors
from voxpick.cli.locate import (
    DiameterOption,
    InvertOption,
    MethodOption,
    RawShapeOption,
    VoxelSizeOption,
    _parse_shape,
    parse_triple,
)


def check_diameter_command(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="Volume, axes (z, y, x): .tif/.tiff, .npy, .h5/.hdf5, .mrc, .raw (with --shape).",
        ),
    ],
    diameter: DiameterOption,
    voxel_size: VoxelSizeOption = "1",
    invert: InvertOption = False,
    method: MethodOption = "classical",
    shape: RawShapeOption = None,
) -> None:
    """Locate with DIAMETER and say whether the detections are physically consistent with it.

    Too many detections closer than 0.8 diameter to a neighbour mean the diameter is too large
    (then a consistent one is suggested), or the detector over-detects on this volume, or the
    diameter is too small.
    """
    from voxpick.analysis.diameter import check_diameter
    from voxpick.io import read_volume

    with user_errors():
        d = parse_triple(diameter, name="--diameter")
        vs = parse_triple(voxel_size, name="--voxel-size")
        volume = read_volume(input_path, shape=_parse_shape(shape))
        result = check_diameter(volume, diameter=d, voxel_size=vs, method=method, invert=invert)
    Console().print(f"{result.verdict}: {result.message}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``check-diameter`` command to ``app``.

    Parameters
    ----------
    app : typer.Typer
        The ``voxpick`` application.
    """
    app.command("check-diameter")(check_diameter_command)
