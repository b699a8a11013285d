"""``voxpick check-diameter``: say whether detections are consistent with the diameter."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from voxpick.cli.common import user_errors
from voxpick.cli.grammar import (
    DEFAULT_METHOD,
    DiameterOption,
    InvertOption,
    KeyOption,
    MethodOption,
    RawShapeOption,
    VoxelSizeOption,
    command,
    print_command,
)
from voxpick.cli.inputs import open_input, option_words, polarity_hint, quiet_calibration


def check_diameter_command(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="Volume, axes (z, y, x): .tif/.tiff, .npy, .h5/.hdf5, .mrc, .raw (with "
            "--shape), or a .zarr / OME-Zarr directory.",
        ),
    ],
    diameter: DiameterOption,
    voxel_size: VoxelSizeOption = None,
    invert: InvertOption = False,
    method: MethodOption = DEFAULT_METHOD,
    shape: RawShapeOption = None,
    key: KeyOption = None,
) -> None:
    """Locate with DIAMETER and say whether the detections are physically consistent with it.

    Too many detections closer than 0.8 diameter to a neighbour mean the diameter is too large
    (then a consistent one is suggested, with the command that uses it), or the detector
    over-detects on this volume, or the diameter is too small. The same detector as `voxpick
    locate` (--method auto by default), so the check judges what locate finds.
    """
    from voxpick.analysis.diameter import check_diameter
    from voxpick.cli.grammar import triple_text

    err = Console(stderr=True)
    with user_errors():
        source = open_input(
            input_path, diameter=diameter, voxel_size=voxel_size, key=key, shape=shape,
            console=err,
        )  # fmt: skip
        volume = source.read()
        with quiet_calibration():
            result = check_diameter(
                volume, diameter=source.scale.diameter, voxel_size=source.scale.voxel_size,
                method=method, invert=invert,
            )  # fmt: skip
    unit = source.scale.unit if source.scale.unit != "px" else None
    out = Console()
    text = result.describe(command_line=True, unit=unit)
    out.print(f"{result.verdict}: {text}", soft_wrap=True, markup=False, highlight=False)
    words = option_words(source, diameter=diameter, method=method, invert=False,
                         voxel_size=voxel_size)  # fmt: skip
    with user_errors():
        polarity_hint(
            err, volume, source, invert=invert,
            rerun=["voxpick", "check-diameter", *words],
        )  # fmt: skip
    if result.suggested is None or result.verdict not in ("too large", "inconsistent"):
        return
    if result.verdict == "inconsistent" and not result.improved:
        return
    # the suggestion is in the unit of the voxel size: written with it, as in the verdict
    suggested = triple_text(result.suggested, digits=3) + (unit or "")
    rerun = option_words(source, diameter=suggested, method=method, invert=invert,
                         voxel_size=voxel_size)  # fmt: skip
    out.print("Locate with it:", soft_wrap=True)
    print_command(out, command("voxpick", "locate", *rerun, "-o", "particles.csv"))


def register(app: typer.Typer) -> None:
    """Add the ``check-diameter`` command to ``app``.

    Parameters
    ----------
    app : typer.Typer
        The ``voxpick`` application.
    """
    app.command("check-diameter")(check_diameter_command)
