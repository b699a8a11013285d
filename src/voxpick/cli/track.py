"""``voxpick track``: locate every frame of a time series and link the frames into trajectories.

A thin wrapper over :func:`voxpick.batch` (every frame, resumable) and
:func:`voxpick.analysis.link` (trackpy). The per-frame detections are kept in a features table
beside the output, from which ``voxpick track FEATURES.csv`` links again without locating.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape

from voxpick.cli.common import user_errors
from voxpick.cli.grammar import (
    DEFAULT_METHOD,
    InvertOption,
    KeyOption,
    MethodOption,
    Scale,
    VoxelSizeOption,
    parse_length,
    parse_triple,
    resolve_scale,
)
from voxpick.io.calibration import format_triple

_TABLE_SUFFIXES = (".csv", ".parquet")
_HDF5 = (".h5", ".hdf5")


def features_path_for(out: Path) -> Path:
    """Return where ``voxpick track`` keeps the per-frame detections: ``NAME.features.SUFFIX``.

    Parameters
    ----------
    out : pathlib.Path
        The trajectories output.

    Returns
    -------
    pathlib.Path
    """
    return out.with_name(f"{out.stem}.features{out.suffix}")


def _series_input(inputs: list[Path]) -> tuple[Any, Path | None]:
    """Return the series for :func:`voxpick.batch`, and the file whose calibration holds."""
    from voxpick.io.frames import expand_pattern, natural_order

    if len(inputs) > 1:  # a glob the shell expanded (in string order): one 3D file per frame
        missing = [str(p) for p in inputs if not p.exists()]
        if missing:
            raise FileNotFoundError(f"{missing[0]}: no such volume file (of {len(inputs)}).")
        files = natural_order([str(p) for p in inputs])
        return files, Path(files[0])
    path = inputs[0]
    if path.exists():
        return str(path), path
    if not any(c in str(path) for c in "*?["):
        raise FileNotFoundError(f"{path}: no such time-series file or zarr directory.")
    matches = expand_pattern(str(path))  # a quoted glob; raises when it matches nothing
    return str(path), Path(matches[0])


def _print_scale(console: Console, scale: Scale) -> None:
    console.print(escape("; ".join([*scale.notes, scale.describe_diameter()])), soft_wrap=True)
    for text in scale.warnings:
        console.print(f"[yellow]warning:[/] {escape(text)}", soft_wrap=True)


def _table_scale(features: Any, diameter: str | None, voxel_size: str | None) -> Scale:
    """Return the scale of a features table: the options given, else its ``attrs``."""
    vs: Any = features.attrs.get("voxel_size", 1.0)
    if voxel_size is not None:
        vs = parse_triple(voxel_size, name="--voxel-size")
    d: Any = features.attrs.get("diameter")
    if diameter is not None:
        d = parse_triple(diameter, name="--diameter")
    vs = float(vs) if np.ndim(vs) == 0 else tuple(float(v) for v in vs)
    if d is not None:
        d = float(d) if np.ndim(d) == 0 else tuple(float(v) for v in d)
    source = "--voxel-size" if voxel_size is not None else "the table's attrs"
    note = f"voxel size {format_triple(vs)} ({source})"
    return Scale(vs, None, d, None, voxel_size is not None, [note])


def track_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            metavar="INPUT...",
            help="Time series (t, z, y, x): a TIFF hyperstack, a .npy, HDF5 (--key) or zarr store, "
            "a glob of 3D files ('run/t*.tif'; frames in natural order, t2 before t10), or a "
            "features table (.csv/.parquet with a frame column) to link again.",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Trajectories .csv or .parquet (frame, particle, z, y, x, ...)."
        ),
    ],
    diameter: Annotated[
        str | None,
        typer.Option(
            help="Particle diameter: one number or Z,Y,X, in the unit of the voxel size; a unit "
            "may follow (1.2um, 12px). Needed unless INPUT is a features table."
        ),
    ] = None,
    search_range: Annotated[
        str | None,
        typer.Option(
            help="Largest move between two frames: one number or Z,Y,X, in the unit of the "
            "voxel size, or with a unit (0.5um, 4px); default half the diameter. Keep it below "
            "half the distance between neighbours."
        ),
    ] = None,
    memory: Annotated[
        int, typer.Option(min=0, help="Frames a particle may vanish for and keep its track.")
    ] = 0,
    voxel_size: VoxelSizeOption = None,
    key: KeyOption = None,
    invert: InvertOption = False,
    method: MethodOption = DEFAULT_METHOD,
    adaptive_stop: Annotated[
        str | None,
        typer.Option(
            help="Let trackpy shrink the search range down to this length where a crowded "
            "group of candidates is too large to solve (e.g. half the search range)."
        ),
    ] = None,
    frame_interval: Annotated[
        float, typer.Option(help="Time between frames, for the diffusion coefficient printed.")
    ] = 1.0,
) -> None:
    """Locate every frame of a time series and link them into trajectories (trackpy).

    Writes the trajectories (one row per particle and frame, with a particle id) and, beside
    them, NAME.features.csv: the detections of every frame. A killed run, restarted with the
    same command, locates only the frames it had not finished. Prints the diffusion
    coefficient of the trajectories (slope of the mean squared displacement, lags 1-10).
    """
    from voxpick.analysis.tracking import diffusion_coefficient, link
    from voxpick.cli.inputs import quiet_calibration
    from voxpick.io import read_calibration, read_positions, write_positions
    from voxpick.io.volume import hdf5_dataset_name, open_hdf5
    from voxpick.series import batch

    console = Console(stderr=True)
    with user_errors():
        if out.suffix.lower() not in _TABLE_SUFFIXES:
            raise ValueError(
                f"--out {str(out)!r} must end in .csv or .parquet, e.g. -o tracks.csv."
            )
        relink = len(inputs) == 1 and inputs[0].suffix.lower() in _TABLE_SUFFIXES
        if relink:
            features = read_positions(inputs[0])
            scale = _table_scale(features, diameter, voxel_size)
            console.print(escape("; ".join(scale.notes)), soft_wrap=True)
        else:
            if diameter is None:
                raise ValueError(
                    "--diameter is needed to locate the particles, e.g. --diameter 8 (or give "
                    "a features table as INPUT to link it again)."
                )
            series, first = _series_input(inputs)
            if key is not None and (first is None or first.suffix.lower() not in _HDF5):
                raise ValueError(f"--key {key!r} is for an HDF5 time series (.h5, .hdf5) only.")
            calibration = read_calibration(first, key=key) if first is not None else None
            scale = resolve_scale(diameter=diameter, voxel_size=voxel_size, calibration=calibration)
            _print_scale(console, scale)
        # every option is checked before the frames are located
        if search_range is not None:
            sr = scale.length(
                parse_length(search_range, name="--search-range"), name="--search-range"
            )
        elif scale.diameter is not None:
            sr = tuple(0.5 * float(d) for d in np.broadcast_to(scale.diameter, 3))
        else:
            raise ValueError(
                f"{inputs[0]} records no diameter: give --search-range, e.g. --search-range 4."
            )
        stop = None
        if adaptive_stop is not None:
            stop_length = parse_length(adaptive_stop, name="--adaptive-stop")
            stop = float(np.max(scale.length(stop_length, name="--adaptive-stop")))
        if not relink:
            with contextlib.ExitStack() as stack:
                if key is not None:  # the chosen dataset of the HDF5 file, a frame at a time
                    handle = stack.enter_context(open_hdf5(series))
                    series = handle[hdf5_dataset_name(handle, series, key)]
                with quiet_calibration():
                    features = batch(
                        series, diameter=scale.diameter, voxel_size=scale.voxel_size,
                        method=method, invert=invert, out=features_path_for(out), progress=True,
                    )  # fmt: skip
        tracks = link(
            features, search_range=sr, memory=memory, voxel_size=scale.voxel_size,
            adaptive_stop=stop,
        )  # fmt: skip
        write_positions(out, tracks)
    _summary(console, tracks, out, scale, frame_interval, relink, diffusion_coefficient)


def _summary(
    console: Console,
    tracks: Any,
    out: Path,
    scale: Scale,
    frame_interval: float,
    relink: bool,
    diffusion_coefficient: Any,
) -> None:
    """Print what was written, and the diffusion coefficient of the trajectories."""
    n_frames = int(tracks["frame"].max()) + 1 if len(tracks) else 0
    lengths = tracks.groupby("particle").size()
    text = f"{len(tracks)} detections in {n_frames} frames, {len(lengths)} trajectories"
    if len(lengths):
        text += f" (median length {int(lengths.median())} frames)"
    console.print(escape(f"{text} -> {out}"), soft_wrap=True)
    if not relink:
        console.print(escape(f"  per-frame detections: {features_path_for(out)}"), soft_wrap=True)
    try:
        coeff = diffusion_coefficient(
            tracks, voxel_size=scale.voxel_size, frame_interval=frame_interval
        )
    except ValueError:  # trajectories too short for a slope
        return
    unit = f"{scale.unit}²" if scale.unit else "(voxel size)²"
    if scale.unit is None and np.allclose(np.asarray(scale.voxel_size, float), 1.0):
        unit = "voxel²"
    per = "frame" if frame_interval == 1.0 else "time unit"
    console.print(f"  diffusion coefficient {coeff:.4g} {unit}/{per} (MSD slope, lags 1-10)")


def register(app: typer.Typer) -> None:
    """Add the ``track`` command to ``app``.

    Parameters
    ----------
    app : typer.Typer
        The ``voxpick`` application.
    """
    app.command("track")(track_command)
