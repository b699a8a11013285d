"""``voxpick pick``: multi-class particle picking in a tomogram file or a copick run."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from voxpick.cli.common import user_errors
from voxpick.cli.grammar import KeyOption, check_key, parse_triple
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
            "the name of a shipped one; default the shipped picker_czii_synthetic_v2 (six CZII "
            "classes, synthetic training: fine-tune it on your data)."
        ),
    ] = None,
    out: Annotated[
        list[Path] | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Output file, format by suffix (repeat -o for several): .csv table (CZII "
            "columns in A + score + pixel columns), .star RELION particles, .txt/.pts IMOD "
            "point file, .mod IMOD model.",
        ),
    ] = None,
    czii: Annotated[
        bool,
        typer.Option(
            "--czii",
            help="Write .csv outputs with exactly the CZII submission columns "
            "id,experiment,particle_type,x,y,z (A): no score, no pixel columns.",
        ),
    ] = False,
    relion: Annotated[
        int,
        typer.Option(
            min=4,
            max=5,
            help="Coordinates of .star outputs: 5 = rlnCenteredCoordinateX/Y/ZAngst (A from the "
            "tomogram centre, RELION 5); 4 = rlnCoordinateX/Y/Z in pixels (RELION 3/4, Warp).",
        ),
    ] = 5,
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
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="With --write-back: replace existing copick picks of the same user, session "
            "and classes (without it they stop the command before picking).",
        ),
    ] = False,
    user_id: Annotated[str, typer.Option(help="copick user id of written picks.")] = "voxpick",
    session_id: Annotated[str, typer.Option(help="copick session id of written picks.")] = "0",
    voxel_size: Annotated[
        str | None,
        typer.Option(help="Voxel size in A, one number or Z,Y,X (default: from the file header)."),
    ] = None,
    key: KeyOption = None,
    experiment: Annotated[
        str | None,
        typer.Option(
            help="Tomogram name in the outputs: CSV experiment, STAR rlnTomoName, truth rows "
            "(default: file stem or run)."
        ),
    ] = None,
    tile: Annotated[
        int, typer.Option(min=16, help="Inference block edge; lower saves memory.")
    ] = 128,  # voxpick.cryoet.picking.PICK_TILE (not imported here: it loads torch)
    tta: Annotated[
        bool,
        typer.Option(help="Average over the tomogram turned 180 degrees about each axis (4x time)"),
    ] = False,
    second_stage: Annotated[
        bool,
        typer.Option(
            help="Use the picker's second stage for look-alike classes when it has one (the "
            "shipped picker does); --no-second-stage uses the network's class shares and "
            "thresholds alone."
        ),
    ] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Also write an HTML report: picks per class with example crops; with --truth or "
            "--truth-user also precision, recall and found / false / missed examples."
        ),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(
            help="True particles for --report: a CSV with experiment, particle_type, x, y, z in "
            "A (a CZII solution or a voxpick CSV); rows of this tomogram's experiment are used."
        ),
    ] = None,
    truth_user: Annotated[
        str | None,
        typer.Option(help="True particles for --report: the copick picks of this user id."),
    ] = None,
    truth_session: Annotated[
        str | None, typer.Option(help="copick session id of the --truth-user picks.")
    ] = None,
) -> None:
    """Pick every particle class of a trained picker in one tomogram.

    Writes one row per pick to each --out file (CSV, RELION STAR, IMOD point file or model, by
    suffix), and/or copick picks with --copick --write-back.
    """
    from voxpick.cryoet import export_picks, load_picker, pick, pick_copick
    from voxpick.io import picks_to_angstrom, picks_to_voxels

    console = Console(stderr=True)
    outs = list(out or [])
    with user_errors():
        if (tomogram is None) == (copick is None):
            raise ValueError(
                "give either a TOMOGRAM file or --copick CONFIG --run NAME, not both or neither."
            )
        if not outs and not write_back and report is None:
            raise ValueError(
                "nothing to write: give -o picks.csv (or .star, .txt, .mod), --write-back or "
                "--report report.html."
            )
        if write_back and copick is None:
            raise ValueError("--write-back needs --copick CONFIG --run NAME.")
        if overwrite and not write_back:
            raise ValueError("--overwrite applies to --write-back only: add --write-back.")
        formats = _check_outputs(outs, czii=czii)
        if copick is not None and run is None:
            raise ValueError("--copick needs --run NAME (see the project's runs).")
        name = experiment or (str(run) if tomogram is None else tomogram.name.split(".")[0])
        if "star" in formats and (not name or any(ch.isspace() for ch in name)):
            raise ValueError(
                f"the tomogram name {name!r} has whitespace, which a .star file cannot hold as "
                "rlnTomoName: pass --experiment NAME (the name RELION knows it by)."
            )
        truth_A = _check_report(report, truth, truth_user, copick=copick, name=name)
        vs_given = None
        if voxel_size is not None:
            vs_given = as_triple(parse_triple(voxel_size, name="--voxel-size"), name="--voxel-size")
        picker = load_picker(model)
        start = time.perf_counter()
        bar = _progress_bar(console) if progress else None
        task = bar.add_task("pick", total=None) if bar is not None else None

        def advance(done: int, total: int) -> None:
            if bar is not None:
                bar.update(task, completed=done, total=total)

        with bar if bar is not None else contextlib.nullcontext():
            if copick is not None:
                assert run is not None  # checked above
                picks = pick_copick(
                    copick, run, model=picker, voxel_spacing=voxel_spacing, tomo_type=tomo_type,
                    voxel_size=vs_given, tile=tile, tta=tta, progress=advance,
                    classifier=None if second_stage else False,
                    write_back=write_back, user_id=user_id, session_id=session_id,
                    overwrite=overwrite,
                )  # fmt: skip
                shape, vs = picks.attrs["shape"], picks.attrs["voxel_size"]
                found = picks_to_voxels(picks, voxel_size=vs)
                image = None
                if report is not None:
                    from voxpick.io import read_picks, read_tomogram

                    volume, _ = read_tomogram(
                        copick, run, voxel_spacing=voxel_spacing, tomo_type=tomo_type
                    )
                    if truth_user is not None:
                        truth_A = read_picks(
                            copick, run, user_id=truth_user, session_id=truth_session
                        )
            else:
                assert tomogram is not None  # checked above
                check_key(tomogram, key)
                volume, vs = _read_tomogram(tomogram, key=key)
                vs = vs_given or vs
                if vs is None:
                    raise ValueError(
                        f"{tomogram}: the file has no voxel size: pass --voxel-size (Angstrom)."
                    )
                found = pick(
                    volume, model=picker, voxel_size=vs, tile=tile, tta=tta, progress=advance,
                    classifier=None if second_stage else False,
                )  # fmt: skip
                picks = picks_to_angstrom(found, voxel_size=vs)
                shape = volume.shape
                image = tomogram if tomogram.suffix.lower() in (".mrc", ".rec", ".map") else None
        picks = picks.assign(experiment=name)
        classes = [c.name for c in picker.classes]
        written, notes = [], []
        for path, fmt in zip(outs, formats, strict=True):
            if fmt.startswith("imod") and found.empty:
                notes.append(f"no picks: {path} not written (an IMOD file needs points)")
                continue
            export_picks(
                found, path, voxel_size=vs, shape=shape, tomo_name=name, classes=classes,
                radii_A={c.name: c.radius_A for c in picker.classes}, czii=fmt == "czii",
                relion=relion,
            )  # fmt: skip
            written.append(str(path))
            if fmt == "imod-points":
                notes.append(_point2model_hint(path, classes, picker, vs, image))
        if report is not None:
            notes.append(
                _write_report(report, volume, found, truth_A, picker=picker, vs=vs, name=name)
            )
        elapsed = time.perf_counter() - start
    counts = ", ".join(f"{k} {v}" for k, v in picks["particle_type"].value_counts().items())
    console.print(
        f"{len(picks)} picks in {name} ({elapsed:.1f} s): {counts or '-'}"
        + (f" -> {', '.join(written)}" if written else "")
    )
    for note in notes:
        console.print(note, soft_wrap=True)


def _check_outputs(outs: list[Path], *, czii: bool) -> list[str]:
    """Return the format of each --out file, checked before any picking."""
    from voxpick.cryoet import pick_file_format

    if len({o.resolve() for o in outs}) != len(outs):
        raise ValueError(f"--out names the same file twice ({[str(o) for o in outs]}).")
    if czii and not any(o.suffix.lower() == ".csv" for o in outs):
        raise ValueError("--czii applies to .csv outputs: add -o picks.csv.")
    formats = []
    for o in outs:
        try:
            formats.append(pick_file_format(o, czii=czii and o.suffix.lower() == ".csv"))
        except ImportError as err:
            raise ValueError(str(err)) from err
    return formats


def _point2model_hint(path: Path, classes: list[str], picker: Any, vs: Any, image: Any) -> str:
    """Return the point2model command that makes a model of a point file, and its objects."""
    from voxpick.io import point2model_command

    smallest = min(c.radius_A for c in picker.classes) / float(vs[2])
    command = point2model_command(
        path, path.with_suffix(".mod"), n_classes=len(classes), sphere_px=smallest, image=image
    )
    objects = ", ".join(f"{k + 1} {c}" for k, c in enumerate(classes))
    return f"IMOD model (objects {objects}):\n{command}"


def _read_tomogram(path: Path, *, key: str | None = None) -> tuple[Any, Any]:
    """Read a tomogram file and its voxel size in Angstrom (None when the file records none)."""
    from voxpick.io import read_calibration, read_ome_zarr, read_volume

    cal = read_calibration(path, key=key) if path.exists() else None
    # in Angstrom whatever the file's unit (a TIFF calibrated in nm or um too); as written when
    # the file gives no unit
    vs = None if cal is None else (cal.in_unit("A") if cal.unit is not None else cal.voxel_size)
    if path.is_dir():
        array, _ = read_ome_zarr(path)
        return array[...] if not hasattr(array, "compute") else array.compute(), vs
    return read_volume(path, key=key), vs


def register(app: typer.Typer) -> None:
    """Add the ``pick`` command to ``app``."""
    app.command("pick")(pick_command)


def _check_report(
    report: Path | None, truth: Path | None, truth_user: str | None, *, copick: Any, name: str
) -> Any:
    """Check the --report options before picking; return the --truth rows (A) or None."""
    if report is None:
        if truth is not None or truth_user is not None:
            raise ValueError("--truth and --truth-user are used by --report: add --report r.html.")
        return None
    if report.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--report {str(report)!r} must end in .html, e.g. --report report.html.")
    if truth is not None and truth_user is not None:
        raise ValueError("give --truth FILE or --truth-user USER, not both.")
    if truth_user is not None and copick is None:
        raise ValueError("--truth-user reads copick picks: it needs --copick CONFIG --run NAME.")
    if truth is None:
        return None
    from voxpick.io import read_submission

    rows = read_submission(truth)
    mine = rows.loc[rows["experiment"] == name]
    if mine.empty:
        found = sorted(set(rows["experiment"]))
        raise ValueError(
            f"--truth {str(truth)!r} has no rows of experiment {name!r} (it has {found[:10]}): "
            "pass --experiment NAME to say which rows are this tomogram's."
        )
    return mine


def _write_report(
    path: Path, volume: Any, found: Any, truth_A: Any, *, picker: Any, vs: Any, name: str
) -> str:
    """Write the per-class HTML report; return the line that says what it holds."""
    from voxpick.analysis.picks_report import build_picks_report
    from voxpick.analysis.report import save_report
    from voxpick.io import picks_to_voxels

    radii = {c.name: c.radius_A for c in picker.classes}
    truth_px, note = None, "picks only (no truth)"
    if truth_A is not None:
        known = truth_A["particle_type"].astype(str).isin(set(radii))
        truth_px = picks_to_voxels(truth_A.loc[known], voxel_size=vs)
        note = f"{int(known.sum())} true particles"
        if not known.all():
            other = sorted(set(truth_A.loc[~known, "particle_type"].astype(str)))
            note += f" ({int((~known).sum())} of classes the picker lacks left out: {other})"
    html = build_picks_report(
        volume, found, radii_A=radii, voxel_size=vs, truth=truth_px, title=f"{name}: picks"
    )
    save_report(path, html)
    return f"report -> {path}: {note}"
