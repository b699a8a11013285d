"""Training the heatmap U-Net on simulated volumes (CPU-friendly, seeded, resumable).

Simulating a volume costs about as much as a few optimisation steps on a CPU, so training
draws patches from a *pool* of simulated volumes at model scale and replaces one pool volume
every ``refresh_every`` steps. Pool volume ``i`` is generated from the seed ``(seed, i)``, so
the pool at any step is known from the step alone: resuming regenerates the live pool and
continues with the saved optimiser, batch-sampling and torch random states.

The steps, learning-rate schedule, checkpoints and resume are the shared loop of
:mod:`voxpick.nn.train`. Files written to ``out``: ``config.json`` (the :class:`TrainConfig`),
``ckpt.pt`` (every ``ckpt_every`` steps and at the end; the checkpoint format of
:mod:`voxpick.nn.train`) and, at the end, ``model.pt`` + ``model.json`` (float16 weights and
their description, loadable with :func:`voxpick.ml.load_model`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from voxpick.ml.augment import AugmentConfig, augment_geometry, augment_intensity
from voxpick.ml.data import Sample, SampleRanges, make_sample
from voxpick.ml.scale import MODEL_DIAMETER, NORM_PERCENTILES
from voxpick.ml.store import load_model, save_model
from voxpick.nn.config import check_known_keys, read_config_json
from voxpick.nn.model import ModelSpec, build_model
from voxpick.nn.train import (
    CHECKPOINT_NAME,
    Schedule,
    TrainResult,
    find_checkpoint,
    fit,
    load_checkpoint,
    print_stderr,
    start_run,
)

__all__ = ["TrainConfig", "TrainResult", "heatmap_loss", "train"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; saved as ``config.json`` beside the weights.

    Attributes
    ----------
    steps : int
        Optimisation steps.
    batch_size : int
        Patches per step.
    patch : int
        Patch edge at model scale (a multiple of the model's size multiple, 8).
    pool_size : int
        Simulated volumes held in memory.
    pool_volume : int
        Edge of each pool volume at model scale (>= ``patch``).
    refresh_every : int
        Replace one pool volume every this many steps.
    lr, weight_decay : float
        AdamW settings; the learning rate warms up linearly over ``warmup`` steps, then follows
        a cosine to ``lr * final_lr_fraction``.
    sigma : float
        Target blob width at model scale (voxels).
    pos_weight : float
        Loss weight ``1 + pos_weight * target`` (centres are rare).
    model_diameter : float
        Particle diameter at model scale.
    seed : int
        Seeds everything (pool volumes, patches, augmentations, weight initialisation).
    ckpt_every : int
        Checkpoint period in steps.
    threads : int
        ``torch.set_num_threads`` on the CPU (0 = leave torch's default).
    device : str or None
        ``"cpu"``, ``"cuda"`` or ``None`` (CUDA when available).
    """

    steps: int = 4800
    batch_size: int = 4
    patch: int = 48
    pool_size: int = 40
    pool_volume: int = 64
    refresh_every: int = 3
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    final_lr_fraction: float = 0.03
    grad_clip: float = 1.0
    sigma: float = 1.5
    pos_weight: float = 4.0
    model_diameter: float = MODEL_DIAMETER
    seed: int = 0
    ckpt_every: int = 100
    log_every: int = 25
    threads: int = 2
    device: str | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    ranges: SampleRanges = field(default_factory=SampleRanges)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        ints = ("steps", "batch_size", "patch", "pool_size", "pool_volume", "refresh_every")
        for name in ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive int.")
        mult = self.model.size_multiple
        if self.patch % mult:
            fix = mult * max(1, round(self.patch / mult))
            raise ValueError(
                f"patch={self.patch} is not a multiple of {mult}: the U-Net halves the patch "
                f"{len(self.model.strides)} times. Use e.g. patch={fix}."
            )
        if self.pool_volume < self.patch:
            raise ValueError(
                f"pool_volume={self.pool_volume} is smaller than patch={self.patch}: "
                "expected pool_volume >= patch."
            )
        for name in ("lr", "sigma", "model_diameter"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value!r} must be a positive number.")
        if self.ckpt_every < 1 or self.log_every < 1 or self.threads < 0 or self.warmup < 0:
            raise ValueError(
                f"ckpt_every={self.ckpt_every}, log_every={self.log_every}, warmup="
                f"{self.warmup}, threads={self.threads}: expected ckpt_every, log_every >= 1 and "
                "warmup, threads >= 0."
            )

    def as_dict(self) -> dict[str, Any]:
        """Return the configuration as a JSON-serialisable dictionary."""
        out = {k: v for k, v in asdict(self).items() if k not in ("model", "ranges", "augment")}
        out["model"] = self.model.as_dict()
        out["ranges"] = self.ranges.as_dict()
        out["augment"] = self.augment.as_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build a configuration from (a subset of) :meth:`as_dict` output."""
        check_known_keys(cls, data)
        kw = dict(data)
        if "model" in kw:
            kw["model"] = ModelSpec.from_dict(kw["model"])
        if "ranges" in kw:
            kw["ranges"] = SampleRanges.from_dict(kw["ranges"])
        if "augment" in kw:
            kw["augment"] = AugmentConfig.from_dict(kw["augment"])
        return cls(**kw)

    @classmethod
    def from_json(cls, path: str | Path) -> TrainConfig:
        """Read a configuration written by :meth:`as_dict` (any subset of keys)."""
        return cls.from_dict(read_config_json(path))

    @property
    def schedule(self) -> Schedule:
        """The optimisation settings of the shared training loop."""
        return Schedule(
            steps=self.steps, lr=self.lr, weight_decay=self.weight_decay, warmup=self.warmup,
            final_lr_fraction=self.final_lr_fraction, grad_clip=self.grad_clip,
            ckpt_every=self.ckpt_every, log_every=self.log_every,
        )  # fmt: skip


class SamplePool:
    """Simulated volumes at model scale, refreshed one at a time, reproducible by step."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.slots: list[Sample | None] = [None] * config.pool_size

    def make(self, index: int) -> Sample:
        """Generate pool volume number ``index`` (deterministic in ``(seed, index)``)."""
        c = self.config
        gen = np.random.default_rng([c.seed, index])
        return make_sample(
            gen, size=c.pool_volume, sigma=c.sigma, ranges=c.ranges, model_diameter=c.model_diameter
        )

    def live_index(self, slot: int, steps_done: int) -> int:
        """Index of the volume in ``slot`` once ``steps_done`` steps have run."""
        c = self.config
        refreshes = (steps_done - 1) // c.refresh_every if steps_done >= 1 else 0
        if refreshes <= slot:
            return slot
        last = slot + c.pool_size * ((refreshes - 1 - slot) // c.pool_size)
        return c.pool_size + last

    def fill(self, steps_done: int, report: Callable[[int, int], None] | None = None) -> None:
        """(Re)generate every slot as it is after ``steps_done`` steps."""
        for j in range(self.config.pool_size):
            self.slots[j] = self.make(self.live_index(j, steps_done))
            if report is not None:
                report(j + 1, self.config.pool_size)

    def before_step(self, step: int) -> None:
        """Refresh the scheduled slot before running ``step`` (0-based)."""
        c = self.config
        if step > 0 and step % c.refresh_every == 0:
            k = step // c.refresh_every - 1
            self.slots[k % c.pool_size] = self.make(c.pool_size + k)

    def batch(self, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw a batch of augmented patches ``(B, 1, P, P, P)`` and targets."""
        c = self.config
        images, targets = [], []
        for _ in range(c.batch_size):
            sample = self.slots[int(gen.integers(0, c.pool_size))]
            assert sample is not None
            img, tgt = _crop(sample, c.patch, gen)
            img, tgt = augment_geometry(img, tgt, gen, c.augment)
            img = augment_intensity(img, gen, c.augment)
            images.append(img)
            targets.append(tgt)
        return np.stack(images)[:, None], np.stack(targets)[:, None]


def _crop(sample: Sample, patch: int, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    img, tgt = sample.image, sample.target
    short = [max(0, patch - n) for n in img.shape]
    if any(short):  # rare: a volume a voxel short after rounding
        pad = [(s // 2, s - s // 2) for s in short]
        img = np.pad(img, pad, mode="reflect")
        tgt = np.pad(tgt, pad, mode="reflect")
    lo = [int(gen.integers(0, n - patch + 1)) for n in img.shape]
    sl = tuple(slice(a, a + patch) for a in lo)
    return img[sl], tgt[sl]


def heatmap_loss(logits: torch.Tensor, target: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """Binary cross-entropy on soft targets, weighted ``1 + pos_weight * target``."""
    weight = 1.0 + pos_weight * target
    return F.binary_cross_entropy_with_logits(logits, target, weight=weight)


def _initial_weights(init: str | Path, c: TrainConfig) -> dict[str, Any]:
    """Return the weights of model ``init``, checked against the architecture ``c`` trains."""
    start = load_model(init, device="cpu")
    if start.spec != c.model or start.model_diameter != c.model_diameter:
        raise ValueError(
            f"init={str(init)!r} has model {start.spec.as_dict()} at diameter "
            f"{start.model_diameter:g}, but the config trains {c.model.as_dict()} at "
            f"{c.model_diameter:g}: use the same model settings as the initial model, or "
            "start without init."
        )
    return start.net.state_dict()


def train(
    config: TrainConfig | None = None,
    out: str | Path = "voxpick-model",
    *,
    resume: bool = False,
    init: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print_stderr,
) -> TrainResult:
    """Train the heatmap U-Net on simulated volumes.

    Parameters
    ----------
    config : TrainConfig, optional
        Settings (defaults: the shipped model's recipe).
    out : str or pathlib.Path
        Output directory: ``config.json``, ``ckpt.pt``, ``model.pt``, ``model.json``.
    resume : bool
        Continue from ``out/ckpt.pt`` with its saved configuration; a ``config`` given here may
        only change ``steps``, ``ckpt_every``, ``log_every``, ``threads`` and ``device`` (its
        other fields are ignored).
    init : str or pathlib.Path, optional
        A heatmap model to start from (a name such as ``"unet_colloids_v1"`` or a path written
        by an earlier run): its weights replace the random initialisation, then training runs
        ``config.steps`` more steps with their own learning-rate schedule. Its architecture
        and model diameter must be ``config``'s. Ignored when resuming.
    progress : bool
        Show a progress bar (rich) on stderr.
    log : callable, optional
        Receives a line every ``config.log_every`` steps; ``None`` silences it.

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> from voxpick.ml import TrainConfig, ModelSpec, train
    >>> cfg = TrainConfig(steps=2, batch_size=1, patch=16, pool_size=1, pool_volume=16,
    ...                   model=ModelSpec(channels=(4, 8), strides=(2,), num_res_units=0))
    >>> res = train(cfg, "/tmp/voxpick-doctest", progress=False, log=None)  # doctest: +SKIP
    """
    keep_saved = config is None
    config = config or TrainConfig()
    out = Path(out)
    ckpt = load_checkpoint(find_checkpoint(out)) if resume else None
    if ckpt is not None:
        saved = TrainConfig.from_dict(ckpt.config)
        config = saved if keep_saved else replace(
            saved, steps=config.steps, ckpt_every=config.ckpt_every, log_every=config.log_every,
            threads=config.threads, device=config.device,
        )  # fmt: skip
    c = config
    device = start_run(out, c.as_dict(), threads=c.threads, device=c.device, seed=c.seed)
    net = build_model(c.model).to(device)
    batch_gen = np.random.default_rng([c.seed, 2**31])
    # the model this run started from: a resumed run keeps its own (``init`` is ignored)
    origin = ckpt.meta.get("init") if ckpt is not None else None if init is None else str(init)
    if init is not None and ckpt is None:
        net.load_state_dict(_initial_weights(init, c))
        if log is not None:
            log(f"initialised from {init}")
    pool = SamplePool(c)

    def fill_pool(start: int) -> None:
        t0 = time.perf_counter()
        if log is not None:
            log(f"simulating the pool of {c.pool_size} volumes (step {start}) on {device}")
        pool.fill(start)
        if log is not None:
            log(f"pool ready in {time.perf_counter() - t0:.1f} s")

    def batch_loss(step: int) -> torch.Tensor:
        pool.before_step(step)
        images, targets = pool.batch(batch_gen)
        x = torch.from_numpy(images).to(device)
        y = torch.from_numpy(targets).to(device)
        return heatmap_loss(net(x), y, c.pos_weight)

    losses, seconds = fit(
        net, batch_loss, c.schedule, gen=batch_gen, ckpt_path=out / CHECKPOINT_NAME,
        config=c.as_dict(), meta={"init": origin}, resume_from=ckpt, prepare=fill_pool,
        progress=progress, log=log,
    )  # fmt: skip
    info = {
        "model": c.model.as_dict(),
        "model_diameter": c.model_diameter,
        "sigma": c.sigma,
        "normalization": {"percentiles": list(NORM_PERCENTILES), "dark_particles": "negated"},
        "steps": c.steps,
        "train_seconds": round(seconds, 1),
        "device": str(device),
        "torch": torch.__version__,
        "train_config": c.as_dict(),
    }
    if origin is not None:
        info["init"] = origin
    model_pt, _ = save_model(net, info, out / "model")
    return TrainResult(model_path=model_pt, steps=c.steps, losses=losses, seconds=seconds)
