"""``voxpick train``: train the heatmap U-Net on simulated volumes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

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
) -> None:
    """Train the particle-centre heatmap U-Net on volumes simulated on the fly.

    Writes OUT/config.json, OUT/ckpt.pt (every ckpt_every steps; --resume continues from it)
    and, at the end, OUT/model.pt + OUT/model.json, usable as
    voxpick.ml.locate_unet(volume, diameter=..., model="OUT/model").
    """
    from voxpick.ml import TrainConfig
    from voxpick.ml import train as run_training

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
            cfg, out, resume=resume, progress=progress, log=None if progress else err_console.print
        )
    err_console.print(
        f"trained {result.steps} steps in {result.seconds / 60:.1f} min; "
        f"final loss {result.losses[-1] if result.losses else float('nan'):.4f}; "
        f"model: {result.model_path}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""
    app.command("train")(train)
