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
from voxpick.validation import as_triple

#: Options shared by the commands that locate particles in one volume file.
DiameterOption = Annotated[
    str, typer.Option(help="Particle diameter: one number or Z,Y,X, in the units of --voxel-size.")
]
VoxelSizeOption = Annotated[
    str, typer.Option(help="Voxel size: one number or Z,Y,X (default 1: diameter in voxels).")
]
InvertOption = Annotated[
    bool, typer.Option("--invert", help="Particles are darker than the background.")
]
MethodOption = Annotated[
    str,
    typer.Option(
        help="Detection method: auto (the U-Net on crowded volumes, classical otherwise), "
        "classical or unet."
    ),
]
RawShapeOption = Annotated[
    str | None, typer.Option(help="Z,Y,X size of a headerless .raw uint8 volume.")
]


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


#: A volume file bigger than this fraction of the machine's memory is located block by block
#: (the whole-volume detector needs about 30 bytes of working memory per voxel).
MEMORY_FRACTION = 1.0 / 32.0


def _parse_chunks(text: str | None) -> int | tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        dims = [int(p.strip()) for p in text.split(",")]
    except ValueError:
        raise ValueError(
            f"--chunks {text!r} is not whole numbers: expected one edge or Z,Y,X in voxels, "
            "e.g. 256 or 128,256,256."
        ) from None
    if len(dims) not in (1, 3) or min(dims) <= 0:
        raise ValueError(f"--chunks {text!r} must be one positive edge or three (Z,Y,X), e.g. 256.")
    return dims[0] if len(dims) == 1 else (dims[0], dims[1], dims[2])


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
            help="Volume, axes (z, y, x): .tif/.tiff, .npy, .h5/.hdf5, .raw (with --shape), or a "
            ".zarr / OME-Zarr directory.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output .csv or .parquet (z,y,x,score,...).")
    ],
    diameter: DiameterOption,
    voxel_size: VoxelSizeOption = "1",
    invert: InvertOption = False,
    method: MethodOption = "auto",
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
            help="Minimum distance between two detections: one number or Z,Y,X, in the units "
            "of --diameter (default: 0.5 diameter for classical, 0.45 for unet). Raise it "
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
) -> None:
    """Find every particle in a 3D volume and write one row per particle (CSV or Parquet).

    Positions are sub-voxel (z, y, x) voxel coordinates; score is the detector's confidence
    relative to its threshold (1 at the threshold); snr and heatmap hold the classical
    signal-to-noise ratio and the U-Net peak height. A .csv output gets a .csv.json sidecar
    describing the run.
    """
    from voxpick.analysis.diameter import crowding_warning
    from voxpick.api import locate
    from voxpick.io import read_volume

    console = Console(stderr=True)
    with user_errors():
        d = parse_triple(diameter, name="--diameter")
        vs = parse_triple(voxel_size, name="--voxel-size")
        if out.suffix.lower() not in (".csv", ".parquet"):
            raise ValueError(
                f"--out {str(out)!r} must end in .csv or .parquet, e.g. -o particles.csv."
            )
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
        for key, flag, value, methods, why in only_for:
            if value is None:
                continue
            if method not in methods:
                wanted = " or ".join(f"--method {m}" for m in methods)
                raise ValueError(
                    f"{flag} does not apply to --method {method}: {why}. Add {wanted}."
                )
            kwargs[key] = parse_triple(str(value), name=flag) if key == "separation" else value
        chunked = core is not None or scheduler is not None or _needs_chunks(input_path)
        start = time.perf_counter()
        if chunked and shape is None:
            volume: Any = input_path  # read block by block
            core = 256 if core is None else core
        else:
            volume = read_volume(input_path, shape=_parse_shape(shape))
        found = locate(
            volume, diameter=d, voxel_size=vs, method=method, invert=invert, chunks=core,
            scheduler=scheduler, out=out, progress=chunked, **kwargs,
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
            f"{found.attrs['unet_volume_fraction']:.2f})"
        )
    if "n_blocks" in found.attrs:
        extra += f", {found.attrs['n_blocks']} blocks"
    console.print(
        f"{len(found)} particles in {input_path.name} {size} ({elapsed:.2f} s{extra}) -> {out}"
    )
    hint = crowding_warning(found, diameter=d, voxel_size=vs)
    if hint:
        console.print(f"[yellow]note:[/] {hint}", soft_wrap=True)
        console.print(f"  voxpick check-diameter {input_path} --diameter {diameter} tells which.")


def register(app: typer.Typer) -> None:
    """Add the ``locate`` command to ``app``.

    Parameters
    ----------
    app : typer.Typer
        The ``voxpick`` application.
    """
    app.command("locate")(locate_command)
