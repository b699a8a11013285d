"""``voxpick pick``: multi-class particle picking in a tomogram file or a copick run."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from voxpick.cli.common import user_errors
from voxpick.cli.locate import parse_triple
from voxpick.validation import as_triple


def _progress_bar(console: Console) -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("picking"), BarColumn(), TextColumn("{task.completed}/{task.total} blocks"),
        TimeRemainingColumn(), console=console,
    )  # fmt: skip


def pick_command(
    tomogram: Annotated[
        Path | None,
        typer.Argument(
            metavar="[TOMOGRAM]",
            help="Tomogram (z, y, x): .mrc/.rec/.map, .tif, .h5, .npy, or a .zarr / OME-Zarr "
            "directory. Leave out with --copick.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Picker written by `voxpick train --copick` (DIR/NAME of NAME.pt + .json) or "
            "the name of a shipped one; default the shipped picker_czii_synthetic_v1 (six CZII "
            "classes, synthetic training: fine-tune it on your data)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output .csv: a CZII submission (id,experiment,particle_type,x,y,z in A).",
        ),
    ] = None,
    copick: Annotated[
        Path | None, typer.Option("--copick", help="copick project config (JSON).")
    ] = None,
    run: Annotated[str | None, typer.Option(help="copick run to pick (with --copick).")] = None,
    voxel_spacing: Annotated[
        float | None, typer.Option(help="copick voxel spacing (A) of the tomogram to read.")
    ] = None,
    tomo_type: Annotated[str | None, typer.Option(help="copick tomogram type.")] = None,
    write_back: Annotated[
        bool,
        typer.Option("--write-back", help="Also write the picks into the copick run."),
    ] = False,
    user_id: Annotated[str, typer.Option(help="copick user id of written picks.")] = "voxpick",
    session_id: Annotated[str, typer.Option(help="copick session id of written picks.")] = "0",
    voxel_size: Annotated[
        str | None,
        typer.Option(help="Voxel size in A, one number or Z,Y,X (default: from the file header)."),
    ] = None,
    experiment: Annotated[
        str | None, typer.Option(help="experiment name in the CSV (default: file stem or run).")
    ] = None,
    tile: Annotated[
        int, typer.Option(min=16, help="Inference block edge; lower saves memory.")
    ] = 96,
    tta: Annotated[
        bool,
        typer.Option(help="Average over the tomogram turned 180 degrees about each axis (4x time)"),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Pick every particle class of a trained picker in one tomogram.

    Writes one row per pick: a CZII submission CSV in Angstrom with --out, and/or copick picks
    with --copick --write-back.
    """
    from voxpick.cryoet import load_picker, pick, pick_copick
    from voxpick.io import picks_to_angstrom, write_submission

    console = Console(stderr=True)
    with user_errors():
        if (tomogram is None) == (copick is None):
            raise ValueError(
                "give either a TOMOGRAM file or --copick CONFIG --run NAME, not both or neither."
            )
        if out is None and not write_back:
            raise ValueError("nothing to write: give -o picks.csv and/or --write-back.")
        if write_back and copick is None:
            raise ValueError("--write-back needs --copick CONFIG --run NAME.")
        if out is not None and out.suffix.lower() != ".csv":
            raise ValueError(f"--out {str(out)!r} must end in .csv, e.g. -o picks.csv.")
        if copick is not None and run is None:
            raise ValueError("--copick needs --run NAME (see the project's runs).")
        vs_given = None
        if voxel_size is not None:
            vs_given = as_triple(parse_triple(voxel_size, name="--voxel-size"), name="--voxel-size")
        picker = load_picker(model)
        start = time.perf_counter()
        bar = _progress_bar(console) if progress else None
        task = bar.add_task("pick", total=None) if bar is not None else None

        def report(done: int, total: int) -> None:
            if bar is not None:
                bar.update(task, completed=done, total=total)

        with bar if bar is not None else contextlib.nullcontext():
            if copick is not None:
                assert run is not None  # checked above
                picks = pick_copick(
                    copick, run, model=picker, voxel_spacing=voxel_spacing, tomo_type=tomo_type,
                    voxel_size=vs_given, tile=tile, tta=tta, progress=report,
                    write_back=write_back, user_id=user_id, session_id=session_id,
                    overwrite=True,
                )  # fmt: skip
                name = experiment or run
            else:
                assert tomogram is not None  # checked above
                volume, vs = _read_tomogram(tomogram)
                vs = vs_given or vs
                if vs is None:
                    raise ValueError(
                        f"{tomogram}: the file has no voxel size: pass --voxel-size (Angstrom)."
                    )
                found = pick(volume, model=picker, voxel_size=vs, tile=tile, tta=tta,
                             progress=report)  # fmt: skip
                picks = picks_to_angstrom(found, voxel_size=vs)
                name = experiment or tomogram.name.split(".")[0]
        picks = picks.assign(experiment=name)
        if out is not None:
            write_submission(out, picks)
        elapsed = time.perf_counter() - start
    counts = ", ".join(f"{k} {v}" for k, v in picks["particle_type"].value_counts().items())
    console.print(
        f"{len(picks)} picks in {name} ({elapsed:.1f} s): {counts or '-'}"
        + (f" -> {out}" if out is not None else "")
    )


def _read_tomogram(path: Path) -> tuple[Any, Any]:
    """Read a tomogram file and its voxel size (None when the format has none)."""
    from voxpick.io import read_mrc, read_ome_zarr, read_tiff_with_voxel_size, read_volume

    suffix = path.suffix.lower()
    if suffix in (".mrc", ".rec", ".map"):
        return read_mrc(path)
    if suffix in (".tif", ".tiff"):
        return read_tiff_with_voxel_size(path)
    if path.is_dir():
        array, vs = read_ome_zarr(path)
        return array[...] if not hasattr(array, "compute") else array.compute(), vs
    return read_volume(path), None


def register(app: typer.Typer) -> None:
    """Add the ``pick`` command to ``app``."""
    app.command("pick")(pick_command)
