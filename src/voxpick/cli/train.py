"""``voxpick train``: train the heatmap U-Net on simulated volumes, or a picker on copick runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from voxpick.cli.common import err_console, user_errors


def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    steps: Annotated[int | None, typer.Option(min=1, help="Optimisation steps.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/ckpt.pt.")] = False,
    seed: Annotated[int | None, typer.Option(help="Seed (default: the config's, 0).")] = None,
    device: Annotated[
        str | None, typer.Option(help="cpu or cuda (default: cuda when available).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="JSON with TrainConfig fields (any subset)."),
    ] = None,
    threads: Annotated[int | None, typer.Option(min=0, help="CPU threads (0: torch's).")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    copick: Annotated[
        Path | None,
        typer.Option(
            "--copick",
            help="Train a multi-class picker on this copick project's labelled runs instead.",
        ),
    ] = None,
    runs: Annotated[
        str | None, typer.Option(help="--copick: training runs, comma separated (default all).")
    ] = None,
    validation_runs: Annotated[
        str | None,
        typer.Option(help="--copick: runs kept out of training to choose the thresholds."),
    ] = None,
    voxel_spacing: Annotated[
        float | None, typer.Option(help="--copick: voxel spacing (A) of the tomograms.")
    ] = None,
    tomo_type: Annotated[str | None, typer.Option(help="--copick: tomogram type.")] = None,
    user_id: Annotated[
        str | None, typer.Option(help="--copick: use only this user's picks as labels.")
    ] = None,
    init: Annotated[
        str | None,
        typer.Option(help="Model to start from: a name or path (with --copick: a picker)."),
    ] = None,
    beta: Annotated[float, typer.Option(help="--copick: F-beta the thresholds maximise.")] = 4.0,
    threshold_rule: Annotated[
        str,
        typer.Option(
            help="--copick: calibrated (steady on a few validation particles) or argmax (the "
            "best cut on the validation runs themselves)."
        ),
    ] = "calibrated",
) -> None:
    """Train the particle-centre heatmap U-Net on volumes simulated on the fly.

    Writes OUT/config.json, OUT/ckpt.pt (every ckpt_every steps; --resume continues from it)
    and, at the end, OUT/model.pt + OUT/model.json, usable as
    voxpick.locate(volume, diameter=..., method="unet", model="OUT/model").

    With --copick CONFIG, trains (or with --init fine-tunes) a multi-class picker on the
    project's labelled runs instead: OUT/picker.pt + OUT/picker.json for `voxpick pick`.
    """
    from voxpick.ml import TrainConfig
    from voxpick.ml import train as run_training

    if copick is not None:
        _train_copick(
            copick, out, steps=steps, seed=seed, device=device, config=config, threads=threads,
            progress=progress, runs=runs, validation_runs=validation_runs,
            voxel_spacing=voxel_spacing, tomo_type=tomo_type, user_id=user_id, init=init,
            beta=beta, threshold_rule=threshold_rule,
        )  # fmt: skip
        return
    with user_errors():
        saved = out / "config.json"
        if config is not None:
            cfg = TrainConfig.from_json(config)
        elif resume and saved.is_file():  # continue with the run's own settings
            cfg = TrainConfig.from_json(saved)
        else:
            cfg = TrainConfig()
        changes: dict[str, object] = {}
        if steps is not None:
            changes["steps"] = steps
        if seed is not None:
            changes["seed"] = seed
        if device is not None:
            changes["device"] = device
        if threads is not None:
            changes["threads"] = threads
        cfg = dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]
        result = run_training(
            cfg, out, resume=resume, init=init, progress=progress,
            log=None if progress else err_console.print,
        )  # fmt: skip
    err_console.print(
        f"trained {result.steps} steps in {result.seconds / 60:.1f} min; "
        f"final loss {result.losses[-1] if result.losses else float('nan'):.4f}; "
        f"model: {result.model_path}"
    )


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def _train_copick(copick: Path, out: Path, **kw: Any) -> None:
    from voxpick.cryoet import PickerTrainConfig, train_picker_copick

    with user_errors():
        cfg = PickerTrainConfig()
        if kw["config"] is not None:
            cfg = PickerTrainConfig.from_json(kw["config"])
        changes = {k: kw[k] for k in ("steps", "seed", "device", "threads") if kw[k] is not None}
        cfg = dataclasses.replace(cfg, **changes)
        result = train_picker_copick(
            copick, out, runs=_split(kw["runs"]),
            validation_runs=_split(kw["validation_runs"]) or (),
            voxel_spacing=kw["voxel_spacing"], tomo_type=kw["tomo_type"], user_id=kw["user_id"],
            train_config=cfg, init=kw["init"], beta=kw["beta"],
            threshold_rule=kw["threshold_rule"], progress=kw["progress"], log=err_console.print,
        )  # fmt: skip
    err_console.print(
        f"trained the picker {result.steps} steps in {result.seconds / 60:.1f} min: "
        f"{result.model_path} (use: voxpick pick --model {result.model_path.with_suffix('')})"
    )


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""
    app.command("train")(train)
