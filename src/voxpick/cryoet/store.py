"""The multi-class particle picker's model: classes, radii, thresholds, weights; saved offline.

A picker is a 3D U-Net with ``1 + n_classes`` output maps, a softmax segmentation: map 0 is
the background, map ``k + 1`` says "within half a radius of the centre of a class-``k``
particle". It works at one voxel size (Angstrom), stored with the weights; tomograms at
another voxel size are resampled to it. Pickers are saved and loaded through the shared model
store (:mod:`voxpick.nn.store`): ``NAME.pt`` (float16 weights) beside ``NAME.json`` (format
``voxpick-picker``: classes, radii, voxel size, thresholds, training record).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from voxpick.nn.model import ModelSpec, build_model, pick_device
from voxpick.nn.store import ModelKind, load_stored, save_stored

#: Format tag of a picker description (``NAME.json`` beside ``NAME.pt``).
PICKER_FORMAT = "voxpick-picker"
#: The shipped picker :func:`load_picker` and ``voxpick pick`` use by default.
DEFAULT_PICKER = "picker_czii_synthetic_v2"

#: The pickers of the model store (:mod:`voxpick.nn.store`).
PICKER_KIND = ModelKind(
    format=PICKER_FORMAT,
    default=DEFAULT_PICKER,
    shipped_glob="picker_*.pt",
    written_by="`voxpick train --copick` or voxpick.cryoet.train_picker",
    hint=" (colloid models load with voxpick.ml.load_model)",
)


@dataclass(frozen=True)
class PickerClass:
    """One particle class the picker knows.

    Attributes
    ----------
    name : str
        Label written in picks (``particle_type``), e.g. ``"ribosome"``.
    radius_A : float
        Particle radius in Angstrom; sets the training target's width and the match radius.
    """

    name: str
    radius_A: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"PickerClass name={self.name!r} must be a non-empty string.")
        radius = float(self.radius_A)
        if not radius > 0:
            raise ValueError(
                f"PickerClass {self.name!r}: radius_A={self.radius_A!r} must be a positive "
                "number of Angstrom."
            )
        object.__setattr__(self, "radius_A", radius)


def check_classes(classes: Sequence[PickerClass | Mapping[str, Any]]) -> tuple[PickerClass, ...]:
    """Validate a class list: ``PickerClass`` objects or mappings with ``name`` and ``radius_A``.

    Raises
    ------
    ValueError
        When the list is empty or names repeat.
    """
    out = tuple(c if isinstance(c, PickerClass) else PickerClass(**dict(c)) for c in classes)
    if not out:
        raise ValueError("classes is empty: expected at least one PickerClass(name, radius_A).")
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ValueError(f"class names must be unique, got {names}.")
    return out


@dataclass
class PickerModel:
    """A trained picker with everything inference needs.

    Attributes
    ----------
    net : torch.nn.Module
        The U-Net (eval mode) with ``1 + len(classes)`` output maps.
    spec : ModelSpec
        Its architecture.
    classes : tuple of PickerClass
        Class of output map ``i + 1``.
    voxel_size : float
        Voxel size (Angstrom) the network works at.
    thresholds : dict
        Per-class minimum score (peak class probability) of a pick.
    device : torch.device
        Where the network runs.
    info : dict
        The full JSON description (training configuration, validation figures, date...).
    """

    net: nn.Module
    spec: ModelSpec
    classes: tuple[PickerClass, ...]
    voxel_size: float
    thresholds: dict[str, float]
    device: torch.device
    info: dict[str, Any] = field(default_factory=dict)

    def radius_voxels(self) -> dict[str, float]:
        """Class radii in the network's voxels."""
        return {c.name: c.radius_A / self.voxel_size for c in self.classes}


class EnsembleNet(nn.Module):
    """Several pickers of one architecture and class list, answering as one.

    Its output is the log of the members' mean softmax probabilities: already normalised
    log-probabilities, so inference treats it like one network's output maps.

    Parameters
    ----------
    members : sequence of torch.nn.Module
        Networks with the same output maps (background first, then the classes in order).
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}.")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log of the mean class probabilities of the members, per voxel."""
        out = self.members[0](x).log_softmax(dim=1)
        for member in self.members[1:]:  # running log-sum: one extra map set in memory
            out = torch.logaddexp(out, member(x).log_softmax(dim=1))
        return out - math.log(len(self.members))


def save_picker(
    net: nn.Module,
    *,
    classes: Sequence[PickerClass],
    voxel_size: float,
    thresholds: Mapping[str, float],
    info: Mapping[str, Any],
    path: str | Path,
) -> tuple[Path, Path]:
    """Save weights (float16) to ``path.pt`` and the description to ``path.json``, atomically.

    Parameters
    ----------
    net : torch.nn.Module
        Trained network.
    classes : sequence of PickerClass
        Class of each output map after the first.
    voxel_size : float
        Angstrom per voxel the network works at.
    thresholds : mapping
        Per-class pick thresholds.
    info : mapping
        Description; must contain ``model`` (a :meth:`ModelSpec.as_dict`).
    path : str or pathlib.Path
        Destination without suffix (a ``.pt``/``.json`` suffix is replaced).

    Returns
    -------
    tuple of pathlib.Path
        The weights file and the JSON file.
    """
    description = {  # the explicit arguments win over stale copies inside ``info``
        **{k: v for k, v in info.items() if k != "ensemble"},
        **({"ensemble": len(net.members)} if isinstance(net, EnsembleNet) else {}),
        "classes": [{"name": c.name, "radius_A": c.radius_A} for c in classes],
        "voxel_size": float(voxel_size),
        "thresholds": {k: float(v) for k, v in thresholds.items()},
    }
    return save_stored(net, description, path, PICKER_KIND)


def _build(info: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    spec = ModelSpec.from_dict(info["model"])
    classes = check_classes(info["classes"])
    n_members = int(info.get("ensemble", 0))
    net: nn.Module
    if n_members:
        net = EnsembleNet(
            [build_model(spec, out_channels=1 + len(classes)) for _ in range(n_members)]
        )
    else:
        net = build_model(spec, out_channels=1 + len(classes))
    fields = {
        "spec": spec,
        "classes": classes,
        "voxel_size": float(info["voxel_size"]),
        "thresholds": {str(k): float(v) for k, v in info.get("thresholds", {}).items()},
    }
    return net, fields


def load_picker(
    path: str | Path | None = None, *, device: str | torch.device | None = None
) -> PickerModel:
    """Load a picker written by :func:`save_picker` (``voxpick train --copick``), offline.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        ``DIR/NAME`` with or without ``.pt``/``.json`` (both files must exist), or the name of
        a shipped picker; default :data:`DEFAULT_PICKER` (the six CZII classes at 10.012 A,
        trained on synthetic tomograms: see its model card).
    device : str or torch.device, optional
        ``None`` picks CUDA when available, else the CPU.

    Returns
    -------
    PickerModel

    Raises
    ------
    FileNotFoundError
        When the picker does not exist (the message lists the shipped ones).
    ValueError
        When a file is corrupt, of another kind, or could run code; the message names it.
    """
    name = DEFAULT_PICKER if path is None else path
    net, fields, info, dev = load_stored(name, PICKER_KIND, _build, device=device)
    return PickerModel(net=net, device=dev, info=info, **fields)


def ensemble_pickers(
    models: Sequence[PickerModel | str | Path],
    *,
    thresholds: Mapping[str, float] | None = None,
    device: str | torch.device | None = None,
) -> PickerModel:
    """Combine trained pickers into one that averages their class probabilities.

    Pickers trained alike but from different seeds disagree most on look-alike classes;
    their average is usually steadier than any one of them (a seed ensemble; check on
    validation data, as docs/cryoet.md shows it is not a sure gain). Picking costs one
    network pass per member. Save the result with :func:`save_picker` (one ``.pt`` + ``.json``,
    loaded by :func:`load_picker` like any picker).

    Parameters
    ----------
    models : sequence of PickerModel, str or pathlib.Path
        At least two pickers (loaded, or paths / shipped names) with the same architecture,
        classes (names, order and radii) and voxel size.
    thresholds : mapping, optional
        Per-class pick thresholds of the ensemble. Default: the mean of the members' own,
        a stop-gap: choose them again for the ensemble on validation data
        (:func:`voxpick.cryoet.choose_thresholds`).
    device : str or torch.device, optional
        Where the ensemble runs; ``None`` picks CUDA when available, else the CPU.

    Returns
    -------
    PickerModel
        ``info`` holds ``ensemble`` (the member count) and ``members`` (each member's
        training seed, steps, initialisation and training tomograms).

    Raises
    ------
    ValueError
        Fewer than two members, a member that is itself an ensemble, or members that differ
        in architecture, classes or voxel size.
    """
    if isinstance(models, str | Path) or len(models) < 2:
        raise ValueError(
            f"models={models!r}: an ensemble needs a sequence of at least 2 pickers, e.g. "
            "['run_a/picker', 'run_b/picker']."
        )
    pickers = [m if isinstance(m, PickerModel) else load_picker(m, device="cpu") for m in models]
    first = pickers[0]
    for i, p in enumerate(pickers):
        if isinstance(p.net, EnsembleNet):
            raise ValueError(f"models[{i}] is already an ensemble: list its members instead.")
        differs = [
            what
            for what, a, b in (
                ("architecture", p.spec.as_dict(), first.spec.as_dict()),
                ("classes", p.classes, first.classes),
                ("voxel_size", p.voxel_size, first.voxel_size),
            )
            if a != b
        ]
        if differs:
            raise ValueError(
                f"models[{i}] differs from models[0] in {', '.join(differs)}: ensemble only "
                "pickers trained for the same classes, voxel size and architecture."
            )
    if thresholds is None:
        names = [c.name for c in first.classes]
        n_pickers = len(pickers)
        thr = {n: sum(p.thresholds.get(n, 0.5) for p in pickers) / n_pickers for n in names}
    else:
        thr = {str(k): float(v) for k, v in thresholds.items()}
    keys = ("train_config", "steps", "init", "trained_on", "date")
    members = [{k: p.info[k] for k in keys if k in p.info} for p in pickers]
    dev = pick_device(device)
    # copies: moving the ensemble to ``dev`` must not move the callers' own pickers
    net = EnsembleNet([copy.deepcopy(p.net) for p in pickers]).to(dev).eval()
    info = {"model": first.spec.as_dict(), "ensemble": len(pickers), "members": members}
    return PickerModel(
        net=net, spec=first.spec, classes=first.classes, voxel_size=first.voxel_size,
        thresholds=thr, device=dev, info=info,
    )  # fmt: skip
