"""Training (or fine-tuning) the multi-class picker on labelled tomograms; seeded, resumable.

Every step draws ``batch_size`` crops; most are placed so that they contain a labelled particle
(``focus`` of them), the rest anywhere. Crops are turned by 180 degrees about a random axis
(this keeps both the molecules' handedness and a missing wedge about any axis; mirroring is
opt-in, see ``mirror``; small random rotations too, see ``rotate_degrees``) and their
intensities jittered. The loss is the voxel-wise
cross-entropy of the ``1 + n_classes`` maps against the label balls, with particle classes
weighted ``fg_weight`` against the background (particles are a small fraction of a tomogram).

The steps, learning-rate schedule, checkpoints and resume are the shared loop of
:mod:`voxpick.nn.train`. Files written to ``out``: ``config.json``, ``ckpt.pt`` (every
``ckpt_every`` steps and at the end) and ``picker.pt`` + ``picker.json`` (loadable with
:func:`voxpick.cryoet.load_picker`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from scipy.spatial.transform import Rotation

from voxpick.cryoet.data import PROPER_FLIPS, LabelledTomogram, label_ball_radius
from voxpick.cryoet.store import EnsembleNet, PickerClass, check_classes, load_picker, save_picker
from voxpick.nn.config import config_from_dict, config_to_dict, read_config_json
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


@dataclass(frozen=True)
class PickerTrainConfig:
    """Everything that defines a picker training run; saved as ``config.json``.

    Attributes
    ----------
    steps, batch_size : int
        Optimisation steps and crops per step.
    patch : int
        Crop edge in voxels (a multiple of the model's size multiple, 8).
    focus : float
        Fraction of crops that contain a labelled particle.
    lr, weight_decay, warmup, final_lr_fraction : float
        AdamW with linear warm-up then cosine decay to ``lr * final_lr_fraction``.
    fg_weight : float
        Mean cross-entropy weight of particle voxels relative to background voxels (per class,
        see :func:`class_weights`).
    gain_range, offset_sigma, noise_max : float
        Intensity jitter: gain drawn log-uniformly in ``[1/gain_range, gain_range]``, offset
        from ``N(0, offset_sigma)``, added Gaussian noise with std up to ``noise_max``.
    rotate_degrees : float
        Also turn each crop by a small random rotation: an angle drawn uniformly up to this
        many degrees about a uniformly random axis (0, the default, turns by 180-degree
        flips only). It shows the network orientations between the flips; the missing wedge
        turns with the crop by the same small angle.
    mirror : bool
        Also mirror crops (flip one or three axes). Off by default: molecules are chiral and
        a mirrored crop shows the other enantiomer under the same label, which blurs the
        classes; crops are only turned by 180 degrees about a random axis.
    grad_clip : float
        Gradient-norm clip.
    model : ModelSpec
        Architecture.
    seed : int
        Seeds network initialisation and crop sampling.
    ckpt_every, log_every : int
        Checkpoint and log intervals (steps).
    threads : int
        Torch CPU threads (0 keeps torch's default).
    device : str or None
        ``None`` uses CUDA when available.
    """

    steps: int = 1500
    batch_size: int = 2
    patch: int = 64
    focus: float = 0.8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    final_lr_fraction: float = 0.05
    fg_weight: float = 8.0
    gain_range: float = 1.3
    offset_sigma: float = 0.15
    noise_max: float = 0.4
    rotate_degrees: float = 0.0
    mirror: bool = False
    grad_clip: float = 5.0
    model: ModelSpec = field(default_factory=ModelSpec)
    seed: int = 0
    ckpt_every: int = 250
    log_every: int = 100
    threads: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        mult = self.model.size_multiple
        if int(self.patch) < mult or int(self.patch) % mult:
            raise ValueError(
                f"patch={self.patch!r} must be a positive multiple of {mult} (the network's "
                "down-sampling factor), e.g. 64."
            )
        for name in ("steps", "batch_size", "ckpt_every", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be a positive int.")
        if not 0.0 <= float(self.focus) <= 1.0:
            raise ValueError(f"focus={self.focus!r} must be a fraction between 0 and 1.")
        if not 0.0 <= float(self.rotate_degrees) <= 90.0:
            raise ValueError(
                f"rotate_degrees={self.rotate_degrees!r} must be between 0 and 90 (degrees), "
                "e.g. 20; 0 turns crops by 180-degree flips only."
            )

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dictionary."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PickerTrainConfig:
        """Inverse of :meth:`as_dict` (unknown keys are an error)."""
        data = dict(data)
        if isinstance(data.get("model"), dict):
            data["model"] = ModelSpec.from_dict(data["model"])
        return config_from_dict(cls, data)

    @classmethod
    def from_json(cls, path: str | Path) -> PickerTrainConfig:
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


def _crop_origin(
    tomo: LabelledTomogram, patch: int, focus: bool, gen: np.random.Generator
) -> list[int]:
    shape = tomo.image.shape
    if focus and len(tomo.centres):
        c = tomo.centres[int(gen.integers(len(tomo.centres)))]
        lo = [int(np.floor(v)) - int(gen.integers(patch // 6, patch - patch // 6)) for v in c]
    else:
        lo = [int(gen.integers(0, max(1, n - patch + 1))) for n in shape]
    return [int(np.clip(a, 0, max(0, n - patch))) for a, n in zip(lo, shape, strict=True)]


def _orientation(gen: np.random.Generator, *, mirror: bool) -> tuple[int, ...]:
    """Axes to flip for one crop: a random 180-degree rotation, or any flips with ``mirror``."""
    if mirror:
        return tuple(ax for ax in range(3) if gen.random() < 0.5)
    return PROPER_FLIPS[int(gen.integers(len(PROPER_FLIPS)))]


def _rotated_crop(
    tomo: LabelledTomogram, lo: Sequence[int], patch: int, degrees: float, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the crop at ``lo`` turned about its centre by a random rotation up to ``degrees``."""
    axis = gen.normal(size=3)
    axis /= max(float(np.linalg.norm(axis)), 1e-12)
    matrix = Rotation.from_rotvec(axis * np.deg2rad(gen.uniform(-degrees, degrees))).as_matrix()
    centre = np.asarray(lo, float) + (patch - 1) / 2
    offset = centre - matrix @ np.full(3, (patch - 1) / 2)
    shape = (patch,) * 3
    img = ndimage.affine_transform(
        tomo.image, matrix, offset=offset, output_shape=shape, order=1, mode="reflect"
    )
    lab = ndimage.affine_transform(
        tomo.labels, matrix, offset=offset, output_shape=shape, order=0, mode="constant"
    )
    return img, lab


def _draw_batch(
    tomograms: Sequence[LabelledTomogram], c: PickerTrainConfig, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for _ in range(c.batch_size):
        tomo = tomograms[int(gen.integers(len(tomograms)))]
        lo = _crop_origin(tomo, c.patch, bool(gen.random() < c.focus), gen)
        if c.rotate_degrees > 0:
            img, lab = _rotated_crop(tomo, lo, c.patch, float(c.rotate_degrees), gen)
        else:
            sl = tuple(slice(a, a + c.patch) for a in lo)
            img, lab = tomo.image[sl], tomo.labels[sl]
        short = [c.patch - n for n in img.shape]
        if any(short):  # tomogram thinner than the patch: pad with mirrored context
            pad = [(0, s) for s in short]
            img = np.pad(img, pad, mode="reflect")
            lab = np.pad(lab, pad)
        flips = _orientation(gen, mirror=c.mirror)
        if flips:
            img, lab = np.flip(img, flips), np.flip(lab, flips)
        gain = float(np.exp(gen.uniform(-1, 1) * np.log(c.gain_range)))
        img = img * gain + gen.normal(0, c.offset_sigma)
        sigma = gen.uniform(0, c.noise_max)
        if sigma > 0:
            img = img + gen.normal(0, sigma, img.shape)
        images.append(np.ascontiguousarray(img, dtype=np.float32))
        labels.append(np.ascontiguousarray(lab, dtype=np.int64))
    return np.stack(images)[:, None], np.stack(labels)


def class_weights(radii: Sequence[float], fg_weight: float) -> np.ndarray:
    """Cross-entropy weights: 1 for background, ``fg_weight`` for particles on average.

    A class's weight scales with the inverse volume of its label ball (relative to the median
    class, clipped to 1/4..4), so a small particle counts about as much as a large one.
    """
    balls = label_ball_radius(np.asarray(radii, float)) ** 3
    rel = np.clip(np.median(balls) / balls, 0.25, 4.0)
    return np.concatenate([[1.0], fg_weight * rel])


def picker_loss(logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Voxel-wise weighted cross-entropy of the ``1 + n_classes`` maps (see class_weights)."""
    return F.cross_entropy(logits, labels, weight=weight)


def _init_from(net: torch.nn.Module, path: str | Path) -> int:
    """Copy every weight of a saved picker whose shape matches; returns how many were copied."""
    start = load_picker(path, device="cpu")
    if isinstance(start.net, EnsembleNet):
        raise ValueError(
            f"init={str(path)!r} is an ensemble of {start.info['ensemble']} pickers: "
            "fine-tune from one picker (one of its members) instead."
        )
    old = start.net.state_dict()
    own = net.state_dict()
    same = {k: v for k, v in old.items() if k in own and own[k].shape == v.shape}
    own.update(same)
    net.load_state_dict(own)
    return len(same)


def train_picker(
    tomograms: Sequence[LabelledTomogram],
    classes: Sequence[PickerClass],
    config: PickerTrainConfig | None = None,
    out: str | Path = "voxpick-picker",
    *,
    voxel_size: float,
    init: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = print_stderr,
) -> TrainResult:
    """Train a multi-class picker on labelled tomograms.

    Parameters
    ----------
    tomograms : sequence of LabelledTomogram
        Training data at the picker's voxel size (:func:`voxpick.cryoet.labelled_tomogram`).
    classes : sequence of PickerClass
        The classes, in the order of :func:`labelled_tomogram`'s class indices.
    config : PickerTrainConfig, optional
        Settings.
    out : str or pathlib.Path
        Output directory.
    voxel_size : float
        Angstrom per voxel of the training tomograms, saved with the model.
    init : str or pathlib.Path, optional
        A saved picker to start from (fine-tuning): every weight of matching shape is copied,
        so a picker with other classes still gives its feature layers. Ignored when resuming.
    resume : bool
        Continue from ``out/ckpt.pt`` with its saved configuration; a ``config`` given here may
        only change ``steps``, ``ckpt_every``, ``log_every``, ``threads`` and ``device``.
    progress : bool
        Show a progress bar on stderr.
    log : callable, optional
        Receives a line every ``log_every`` steps.

    Returns
    -------
    TrainResult
        ``model_path`` is ``out/picker.pt``; thresholds saved are 0.5 for every class until
        :func:`voxpick.cryoet.choose_thresholds` sets them.
    """
    classes = check_classes(classes)
    if not tomograms:
        raise ValueError("tomograms is empty: expected at least one LabelledTomogram.")
    out = Path(out)
    c = config or PickerTrainConfig()
    ckpt = load_checkpoint(find_checkpoint(out)) if resume else None
    if ckpt is not None:
        saved = PickerTrainConfig.from_dict(ckpt.config)
        c = saved if config is None else replace(
            saved, steps=c.steps, ckpt_every=c.ckpt_every, log_every=c.log_every,
            threads=c.threads, device=c.device,
        )  # fmt: skip
    # the picker this run started from: a resumed run keeps its own (``init`` is ignored)
    origin = ckpt.meta.get("init") if ckpt is not None else None if init is None else str(init)
    device = start_run(out, c.as_dict(), threads=c.threads, device=c.device, seed=c.seed)
    net = build_model(c.model, out_channels=1 + len(classes))
    if init is not None and ckpt is None:
        copied = _init_from(net, init)
        if log is not None:
            log(f"initialised {copied} weight tensors from {init}")
    net.to(device)
    gen = np.random.default_rng([c.seed, 7])
    weight = torch.tensor(
        class_weights([cl.radius_A / voxel_size for cl in classes], c.fg_weight),
        dtype=torch.float32, device=device,
    )  # fmt: skip

    def batch_loss(step: int) -> torch.Tensor:
        images, labels = _draw_batch(tomograms, c, gen)
        logits = net(torch.from_numpy(images).to(device))
        return picker_loss(logits, torch.from_numpy(labels).to(device), weight)

    losses, seconds = fit(
        net, batch_loss, c.schedule, gen=gen, ckpt_path=out / CHECKPOINT_NAME,
        config=c.as_dict(), meta={"init": origin}, resume_from=ckpt, progress=progress,
        log=log,
    )  # fmt: skip
    info = {
        "model": c.model.as_dict(),
        "steps": c.steps,
        "train_seconds": round(seconds, 1),
        "device": str(device),
        "torch": torch.__version__,
        "train_config": c.as_dict(),
        "trained_on": [t.name for t in tomograms],
        "init": origin,
    }
    pt, _ = save_picker(
        net, classes=classes, voxel_size=voxel_size,
        thresholds={cl.name: 0.5 for cl in classes}, info=info, path=out / "picker",
    )  # fmt: skip
    return TrainResult(model_path=pt, steps=c.steps, losses=losses, seconds=seconds)
