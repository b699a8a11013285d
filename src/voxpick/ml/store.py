"""Saving and loading trained heatmap models, offline: a thin layer over :mod:`voxpick.nn.store`.

A heatmap model is ``NAME.pt`` (float16 weights) beside ``NAME.json`` (format
``voxpick-unet-heatmap``: architecture, model diameter, target width, threshold, training
record). Shipped models live in :data:`voxpick.nn.store.WEIGHTS_DIR`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from voxpick.nn.model import ModelSpec, build_model
from voxpick.nn.store import WEIGHTS_DIR, ModelKind, load_stored, save_stored

#: Name of the model shipped inside the package (``voxpick/nn/weights/<name>.pt`` and ``.json``).
DEFAULT_MODEL = "unet_colloids_v1"

#: Format tag written into every model description.
MODEL_FORMAT = "voxpick-unet-heatmap"

#: Default peak threshold (heatmap height) when a description does not give one.
FALLBACK_THRESHOLD = 0.5

#: The heatmap models of the store.
HEATMAP_KIND = ModelKind(
    format=MODEL_FORMAT,
    default=DEFAULT_MODEL,
    shipped_glob="unet_*.pt",
    written_by="`voxpick train`",
    hint=" (pickers load with voxpick.cryoet.load_picker)",
)

__all__ = [
    "DEFAULT_MODEL",
    "FALLBACK_THRESHOLD",
    "HEATMAP_KIND",
    "MODEL_FORMAT",
    "WEIGHTS_DIR",
    "HeatmapModel",
    "load_model",
    "save_model",
]


@dataclass
class HeatmapModel:
    """A trained network with everything inference needs to use it.

    Attributes
    ----------
    net : torch.nn.Module
        The U-Net, in eval mode, on ``device``.
    spec : ModelSpec
        Its architecture.
    model_diameter : float
        Particle diameter (voxels, every axis) the network was trained at.
    sigma : float
        Width of the target blobs at model scale, voxels.
    threshold : float
        Default minimum peak height (0..1) of a detection.
    device : torch.device
        Where the network runs.
    info : dict
        The full JSON description (training configuration, validation figures, date...).
    """

    net: nn.Module
    spec: ModelSpec
    model_diameter: float
    sigma: float
    threshold: float
    device: torch.device
    info: dict[str, Any] = field(default_factory=dict)


def save_model(net: nn.Module, info: dict[str, Any], path: str | Path) -> tuple[Path, Path]:
    """Save weights (float16 state dict) to ``path.pt`` and the description to ``path.json``.

    Parameters
    ----------
    net : torch.nn.Module
        Trained network.
    info : dict
        Description; must contain ``model`` (a :meth:`ModelSpec.as_dict`), ``model_diameter``
        and ``sigma``. ``format`` is added.
    path : str or pathlib.Path
        Destination without suffix (a ``.pt``/``.json`` suffix is replaced).

    Returns
    -------
    tuple of pathlib.Path
        The weights file and the JSON file.
    """
    return save_stored(net, info, path, HEATMAP_KIND)


def _build(info: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    spec = ModelSpec.from_dict(info["model"])
    fields = {
        "spec": spec,
        "model_diameter": float(info["model_diameter"]),
        "sigma": float(info["sigma"]),
        "threshold": float(info.get("threshold", FALLBACK_THRESHOLD)),
    }
    return build_model(spec), fields


def load_model(
    model: str | Path | None = None, *, device: str | torch.device | None = None
) -> HeatmapModel:
    """Load a trained heatmap model from disk (never from the network).

    Parameters
    ----------
    model : str or pathlib.Path, optional
        ``None`` for the shipped default (:data:`DEFAULT_MODEL`), the name of a shipped model,
        or a path ``DIR/NAME`` (``.pt`` optional) with ``NAME.pt`` and ``NAME.json``.
    device : str or torch.device, optional
        ``None`` picks CUDA when available, else the CPU.

    Returns
    -------
    HeatmapModel

    Raises
    ------
    FileNotFoundError
        When the model does not exist (the message lists the shipped ones).
    ValueError
        When a file is corrupt, of another kind, or could run code; the message names it.
    """
    name = DEFAULT_MODEL if model is None else model
    net, fields, info, dev = load_stored(name, HEATMAP_KIND, _build, device=device)
    return HeatmapModel(net=net, device=dev, info=info, **fields)
