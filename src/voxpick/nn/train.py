"""The one training loop: AdamW steps, learning-rate schedule, progress, checkpoint and resume.

Both trainers use it: the colloid U-Net (:func:`voxpick.ml.train`) and the cryo-ET picker
(:func:`voxpick.cryoet.train_picker`). A trainer supplies the network and a function that
draws a batch and returns its loss; :func:`fit` runs the steps. The learning rate warms up
linearly over ``warmup`` steps, then follows a cosine to ``lr * final_lr_fraction``.

Checkpoint format (``ckpt.pt``, one for every trainer, written atomically every
``ckpt_every`` steps and at the end): a dictionary of tensors and plain Python types only,
so it loads with ``torch.load(..., weights_only=True)``: ``format``, ``model`` and
``optimizer`` (state dicts), ``step``, ``losses``, ``seconds``, ``batch_rng`` (the numpy
bit-generator state), ``torch_rng`` (a byte tensor), ``config`` (the trainer's settings) and
``meta`` (anything else the trainer records, e.g. the model it started from). Resuming
restores all of them, so an interrupted run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from voxpick.nn.model import pick_device
from voxpick.nn.store import atomic_torch_save, atomic_write_json, safe_torch_load

#: Format tag of a checkpoint.
CHECKPOINT_FORMAT = "voxpick-checkpoint"
#: File name of the checkpoint inside a run's output directory.
CHECKPOINT_NAME = "ckpt.pt"


def print_stderr(msg: str) -> None:
    """Print a log line to stderr (the trainers' default ``log``)."""
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Schedule:
    """Optimisation settings every trainer shares.

    Attributes
    ----------
    steps : int
        Optimisation steps in total.
    lr, weight_decay : float
        AdamW settings.
    warmup : int
        Linear warm-up steps.
    final_lr_fraction : float
        The cosine ends at ``lr * final_lr_fraction``.
    grad_clip : float
        Gradient-norm clip.
    ckpt_every, log_every : int
        Checkpoint and log intervals (steps).
    """

    steps: int
    lr: float
    weight_decay: float
    warmup: int
    final_lr_fraction: float
    grad_clip: float
    ckpt_every: int
    log_every: int

    def lr_at(self, step: int) -> float:
        """Learning rate of ``step`` (0-based)."""
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        t = min(1.0, (step - self.warmup) / max(1, self.steps - self.warmup))
        floor = self.final_lr_fraction
        return self.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


@dataclass
class Checkpoint:
    """Everything needed to continue a run (see the module notes for the file format).

    Attributes
    ----------
    model, optimizer : dict
        State dicts.
    step : int
        Steps completed.
    losses : list of float
        Loss of every completed step.
    seconds : float
        Training time so far.
    batch_rng : dict
        ``numpy.random.Generator.bit_generator.state`` of the batch sampler.
    torch_rng : torch.Tensor
        ``torch.get_rng_state()``.
    config : dict
        The trainer's settings.
    meta : dict
        Anything else the trainer records.
    """

    model: dict[str, Any]
    optimizer: dict[str, Any]
    step: int
    losses: list[float]
    seconds: float
    batch_rng: dict[str, Any]
    torch_rng: torch.Tensor
    config: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


_CHECKPOINT_KEYS = ("model", "optimizer", "step", "losses", "seconds", "batch_rng", "torch_rng",
                    "config")  # fmt: skip


def save_checkpoint(ckpt: Checkpoint, path: Path) -> None:
    """Write ``ckpt`` to ``path`` atomically (tensors and plain types only)."""
    data = {"format": CHECKPOINT_FORMAT, **{k: getattr(ckpt, k) for k in _CHECKPOINT_KEYS}}
    data["meta"] = ckpt.meta
    atomic_torch_save(data, path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`, without running any code.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``ckpt.pt`` file.

    Returns
    -------
    Checkpoint

    Raises
    ------
    ValueError
        When the file is corrupt, crafted (a pickle that would run code is refused before it
        runs) or lacks what a checkpoint holds.
    """
    path = Path(path)
    data = safe_torch_load(
        path, what="training checkpoint", fix="Start without resume (a new run) instead."
    )
    missing = [k for k in _CHECKPOINT_KEYS if not isinstance(data, dict) or k not in data]
    if missing:
        raise ValueError(
            f"{path} is not a voxpick training checkpoint: it lacks {missing}. Start without "
            "resume, or point out= at the directory of an earlier run."
        )
    # checkpoints written before the format tag kept the initial model at the top level
    meta = data.get("meta", {"init": data.get("init")})
    return Checkpoint(**{k: data[k] for k in _CHECKPOINT_KEYS}, meta=dict(meta))


def find_checkpoint(out: Path) -> Path:
    """``out/ckpt.pt``, which must exist (for ``resume=True``)."""
    path = out / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"resume=True but {path} does not exist: start without resume, or point out= at "
            "the directory of an earlier run."
        )
    return path


def start_run(
    out: Path, config: dict[str, Any], *, threads: int, device: str | None, seed: int
) -> torch.device:
    """Prepare a run: CPU threads, device, ``out/config.json`` and the torch seed.

    Temporaries that a killed run's atomic writes left in ``out`` (``.NAME.*.part``) are
    removed.

    Parameters
    ----------
    out : pathlib.Path
        Output directory (created).
    config : dict
        The trainer's settings, written to ``out/config.json``.
    threads : int
        ``torch.set_num_threads`` (0 keeps torch's default).
    device : str or None
        ``None`` picks CUDA when available.
    seed : int
        ``torch.manual_seed`` (weight initialisation); call before building the network.

    Returns
    -------
    torch.device
    """
    if threads > 0:
        torch.set_num_threads(threads)
    dev = pick_device(device)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.part"):  # temporaries of a killed run's writes (voxpick.io.atomic)
        stale.unlink(missing_ok=True)
    atomic_write_json(config, out / "config.json")
    torch.manual_seed(seed)
    return dev


@dataclass
class TrainResult:
    """Outcome of a training run.

    Attributes
    ----------
    model_path : pathlib.Path
        The weights (``NAME.pt``; ``NAME.json`` beside it).
    steps : int
        Steps completed in total (including those before a resume).
    losses : list of float
        Mean loss of every completed step.
    seconds : float
        Wall-clock training time in total (including before a resume).
    """

    model_path: Path
    steps: int
    losses: list[float]
    seconds: float


def fit(
    net: nn.Module,
    batch_loss: Callable[[int], torch.Tensor],
    schedule: Schedule,
    *,
    gen: np.random.Generator,
    ckpt_path: Path,
    config: dict[str, Any],
    meta: dict[str, Any] | None = None,
    resume_from: Checkpoint | None = None,
    prepare: Callable[[int], None] | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print_stderr,
) -> tuple[list[float], float]:
    """Run the optimisation steps of a training run, checkpointing as it goes.

    Parameters
    ----------
    net : torch.nn.Module
        The network, on its device, initialised (or fine-tuning start) weights loaded.
    batch_loss : callable
        ``batch_loss(step)`` draws the batch of ``step`` (with ``gen``) and returns the loss of
        ``net`` on it.
    schedule : Schedule
        Steps, optimiser settings and intervals.
    gen : numpy.random.Generator
        The batch sampler; its state is checkpointed and restored.
    ckpt_path : pathlib.Path
        Where checkpoints go.
    config : dict
        The trainer's settings, stored in every checkpoint.
    meta : dict, optional
        Anything else to store in every checkpoint (plain types).
    resume_from : Checkpoint, optional
        Continue from this checkpoint (weights, optimiser, step, losses, random states).
    prepare : callable, optional
        Called as ``prepare(start_step)`` once the state is restored, before the first step
        (inside the timed region).
    progress : bool
        Show a progress bar (rich) on stderr.
    log : callable, optional
        Receives a line every ``schedule.log_every`` steps; ``None`` silences it.

    Returns
    -------
    losses : list of float
        Loss of every step of the run (including those before a resume).
    seconds : float
        Training time (including before a resume).
    """
    s = schedule
    opt = torch.optim.AdamW(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    start, losses, before = 0, [], 0.0
    if resume_from is not None:
        net.load_state_dict(resume_from.model)
        opt.load_state_dict(resume_from.optimizer)
        start, before = int(resume_from.step), float(resume_from.seconds)
        losses = [float(x) for x in resume_from.losses]
        gen.bit_generator.state = resume_from.batch_rng
        torch.set_rng_state(resume_from.torch_rng)
    t0 = time.perf_counter()
    if prepare is not None:
        prepare(start)

    def checkpoint(step: int) -> None:
        save_checkpoint(
            Checkpoint(
                model=net.state_dict(), optimizer=opt.state_dict(), step=step, losses=losses,
                seconds=before + time.perf_counter() - t0, batch_rng=dict(gen.bit_generator.state),
                torch_rng=torch.get_rng_state(), config=config, meta=dict(meta or {}),
            ),
            ckpt_path,
        )  # fmt: skip

    net.train()
    t_log, n_log = time.perf_counter(), 0
    with ProgressBar(enabled=progress, total=s.steps, done=start) as bar:
        for step in range(start, s.steps):
            lr = s.lr_at(step)
            for group in opt.param_groups:
                group["lr"] = lr
            loss = batch_loss(step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), s.grad_clip)
            opt.step()
            losses.append(float(loss.detach().cpu()))
            bar.advance(losses[-1])
            n_log += 1
            done = step + 1
            if done % s.ckpt_every == 0 or done == s.steps:
                checkpoint(done)
            if log is not None and (done % s.log_every == 0 or done == s.steps):
                recent = float(np.mean(losses[-n_log:]))
                per = (time.perf_counter() - t_log) / n_log
                log(f"step {done}/{s.steps} loss {recent:.5f} lr {lr:.2e} {per:.2f} s/step")
                t_log, n_log = time.perf_counter(), 0
    net.eval()
    return losses, before + time.perf_counter() - t0


class ProgressBar:
    """A rich progress bar of training steps that can be switched off."""

    def __init__(self, *, enabled: bool, total: int, done: int) -> None:
        self.enabled = enabled
        self.total, self.done = total, done
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("training"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(),
                console=Console(stderr=True),
            )  # fmt: skip
            self._progress.__enter__()
            self._task = self._progress.add_task(
                "train", total=self.total, completed=self.done, loss="-"
            )
        return self

    def advance(self, loss: float) -> None:
        """Count one step and show its loss."""
        if self._progress is not None:
            self._progress.update(self._task, advance=1, loss=f"{loss:.4f}")

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
