"""``voxpick locate``: find the particles of one volume file and write them as CSV or Parquet.

A thin wrapper over :func:`voxpick.locate`. Volumes that are zarr / OME-Zarr stores, too large
for memory, or run with ``--chunks`` are located block by block (resumable, optionally on a
``dask.distributed`` cluster with ``--scheduler``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

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
    parse_length,
    parse_triple,
    print_command,
)
from voxpick.cli.inputs import open_input, option_words, polarity_hint, quiet_calibration

#: The shared options and the one parser live in voxpick.cli.grammar (re-exported here for the
#: commands that imported them from this module).
__all__ = [
    "DiameterOption", "InvertOption", "KeyOption", "MethodOption", "RawShapeOption",
    "VoxelSizeOption", "locate_command", "parse_triple", "register",
]  # fmt: skip


#: A volume file bigger than this fraction of the machine's memory is located block by block
#: (the whole-volume detector needs about 30 bytes of working memory per voxel).
MEMORY_FRACTION = 1.0 / 32.0


def _parse_chunks(text: str | None) -> int | tuple[int, int, int] | None:
    return None if text is None else parse_triple(text, name="--chunks", integer=True)


def _total_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 * 1024**3


def _needs_chunks(path: Path) -> bool:
    """Whether ``path`` is a zarr store or a file too large to locate in memory at once."""
    from voxpick.io.source import is_zarr_path

    if is_zarr_path(path):
        return True
    return path.is_file() and path.stat().st_size > MEMORY_FRACTION * _total_memory()


def locate_command(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="Volume, axes (z, y, x): .tif/.tiff, .npy, .h5/.hdf5 (with --key if several "
            "datasets), .mrc, .raw (with --shape), or a .zarr / OME-Zarr directory.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output .csv or .parquet (z,y,x,score,...).")
    ],
    diameter: DiameterOption,
    voxel_size: VoxelSizeOption = None,
    invert: InvertOption = False,
    method: MethodOption = DEFAULT_METHOD,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Minimum score (classical: signal-to-noise; unet: peak height 0..1); "
            "default: automatic. Needs --method classical or unet."
        ),
    ] = None,
    separation: Annotated[
        str | None,
        typer.Option(
            help="Minimum distance between two detections: one number or Z,Y,X, read like "
            "--diameter (default: 0.5 diameter for classical, 0.45 for unet). Raise it "
            "towards 0.8 diameter for hard spheres. Needs --method classical or unet."
        ),
    ] = None,
    tta: Annotated[
        bool,
        typer.Option(
            "--tta",
            help="U-Net: locate at 0.9, 1.0 and 1.1 times the diameter and merge (test-time "
            "scale augmentation; 3-5x the time). Needs --method unet.",
        ),
    ] = False,
    min_relative: Annotated[
        float | None,
        typer.Option(
            help="Classical detector: drop peaks whose filter response is below this fraction "
            "of a typical particle's (default 0.1). Raise it (e.g. 0.35) when a background band "
            "(the coverslip) gives weak false detections. Needs --method classical."
        ),
    ] = None,
    shape: RawShapeOption = None,
    key: KeyOption = None,
    chunks: Annotated[
        str | None,
        typer.Option(
            help="Locate block by block with this core edge (one number or Z,Y,X voxels); "
            "automatic for zarr inputs and files too large for memory. Resumable: rerun the "
            "same command after an interruption."
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Block-by-block runs: 'threads' (default) or a dask.distributed scheduler "
            "address, e.g. tcp://10.0.0.1:8786."
        ),
    ] = None,
    progress: Annotated[
        bool, typer.Option(help="Show progress (stages, and blocks of a block-by-block run).")
    ] = True,
    refine: Annotated[
        bool,
        typer.Option(
            "--refine",
            help="Then fit the image model (voxpick refine): refined positions with "
            "sigma_z/y/x columns, missed particles added, unneeded ones removed.",
        ),
    ] = False,
) -> None:
    """Find every particle in a 3D volume and write one row per particle (CSV or Parquet).

    Positions are sub-voxel (z, y, x) voxel coordinates; score is the detector's confidence
    relative to its threshold (1 at the threshold); snr and heatmap hold the classical
    signal-to-noise ratio and the U-Net peak height. A .csv output gets a .csv.json sidecar
    describing the run.
    """
    from voxpick.analysis.diameter import crowding_warning
    from voxpick.api import locate

    console = Console(stderr=True)
    with user_errors():
        if out.suffix.lower() not in (".csv", ".parquet"):
            raise ValueError(
                f"--out {str(out)!r} must end in .csv or .parquet, e.g. -o particles.csv."
            )
        source = open_input(
            input_path, diameter=diameter, voxel_size=voxel_size, key=key, shape=shape,
            console=console,
        )  # fmt: skip
        core = _parse_chunks(chunks)
        # options that only some detectors take: (keyword, flag, value, methods, why)
        only_for = [
            ("threshold", "--threshold", threshold, ("classical", "unet"),
             "the classical score is a signal-to-noise ratio and the U-Net's a peak height 0..1"),
            ("separation", "--separation", separation, ("classical", "unet"),
             "the default picks a detector per volume"),
            ("min_relative", "--min-relative", min_relative, ("classical",),
             "it is an option of the classical detector"),
            ("scales", "--tta", "tta" if tta else None, ("unet",), "it is an option of the U-Net"),
        ]  # fmt: skip
        kwargs: dict[str, Any] = {}
        for name, flag, value, methods, why in only_for:
            if value is None:
                continue
            if method not in methods:
                wanted = " or ".join(f"--method {m}" for m in methods)
                raise ValueError(
                    f"{flag} does not apply to --method {method}: {why}. Add {wanted}."
                )
            if name == "separation":
                value = source.scale.length(parse_length(str(value), name=flag), name=flag)
            kwargs[name] = value
        chunked = core is not None or scheduler is not None or _needs_chunks(input_path)
        start = time.perf_counter()
        if chunked and source.shape is None and key is None:
            volume: Any = input_path  # read block by block
            core = 256 if core is None else core
        else:
            volume = source.read()
        with quiet_calibration():
            found = locate(
                volume, diameter=source.scale.diameter, voxel_size=source.scale.voxel_size,
                method=method, invert=invert, chunks=core, scheduler=scheduler, out=out,
                progress=progress, refine=refine, **kwargs,
            )  # fmt: skip
        size = tuple(found.attrs.get("shape", ()))
    elapsed = time.perf_counter() - start
    extra = ""
    if "threshold" in found.attrs:
        native = "heatmap" if found.attrs["detector"] == "unet" else "snr"
        extra = f", {native} >= {found.attrs['threshold']:.2f}"
    if "unet_volume_fraction" in found.attrs:
        extra += (
            f", auto: {found.attrs['detector']} (U-Net volume fraction "
            f"{found.attrs['unet_volume_fraction']:.2f}"
            + ("; its peaks look like noise" if found.attrs.get("unet_noise_like") else "")
            + ")"
        )
    if found.attrs.get("n_blocks", 1) > 1:
        extra += f", {found.attrs['n_blocks']} blocks"
    console.print(
        f"{len(found)} particles in {input_path.name} {size} ({elapsed:.2f} s{extra}) -> {out}",
        soft_wrap=True, markup=False, highlight=False,
    )  # fmt: skip
    words = option_words(
        source, diameter=diameter, method=method, invert=False, voxel_size=voxel_size
    )
    given = [
        ("--threshold", threshold),
        ("--separation", separation),
        ("--min-relative", min_relative),
        ("--chunks", chunks),
        ("--scheduler", scheduler),
    ]
    extra_words = [w for flag, v in given if v is not None for w in (flag, str(v))]
    extra_words += ["--tta"] if tta else []
    with user_errors():
        polarity_hint(
            console, volume, source, invert=invert,
            rerun=["voxpick", "locate", *words, *extra_words, "-o", str(out)],
        )  # fmt: skip
    hint = crowding_warning(
        found, diameter=source.scale.diameter, voxel_size=source.scale.voxel_size
    )
    if hint:
        console.print(f"[yellow]note:[/] {hint} Tell which with:", soft_wrap=True)
        check = ["voxpick", "check-diameter", *words, *(["--invert"] if invert else [])]
        print_command(console, command(*check))


def register(app: typer.Typer) -> None:
    """Add the ``locate`` command to ``app``.

    Parameters
    ----------
    app : typer.Typer
        The ``voxpick`` application.
    """
    app.command("locate")(locate_command)
