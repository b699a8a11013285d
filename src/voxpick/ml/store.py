"""Saving and loading trained heatmap models (weights + a JSON description), offline only."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from voxpick.io.atomic import atomic_path
from voxpick.ml.model import ModelSpec, build_model, pick_device

#: Name of the model shipped inside the package (``voxpick/ml/weights/<name>.pt`` and ``.json``).
DEFAULT_MODEL = "unet_colloids_v1"

#: Format tag written into every model description.
MODEL_FORMAT = "voxpick-unet-heatmap"

#: Default peak threshold (heatmap height) when a description does not give one.
FALLBACK_THRESHOLD = 0.5

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


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


def atomic_torch_save(obj: Any, path: Path) -> None:
    """Write ``obj`` with :func:`torch.save` to ``path`` atomically (temporary file + rename)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def atomic_write_json(data: dict[str, Any], path: Path) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


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
    return write_weights(net, {"format": MODEL_FORMAT, **info}, path)


def read_description(js: Path, fmt: str, *, hint: str) -> dict[str, Any]:
    """Read a model description JSON and check its ``format`` tag.

    Parameters
    ----------
    js : pathlib.Path
        The ``NAME.json`` file.
    fmt : str
        The expected ``format``.
    hint : str
        Appended to the error, e.g. where a model of another format loads.

    Returns
    -------
    dict
    """
    info: dict[str, Any] = json.loads(js.read_text())
    if info.get("format") != fmt:
        raise ValueError(
            f"{js} is not a {fmt} description: expected format={fmt!r}, found "
            f"{info.get('format')!r}{hint}."
        )
    return info


def read_state(pt: Path) -> dict[str, torch.Tensor]:
    """Read weights written by :func:`write_weights`, as float32 (CPU)."""
    state = torch.load(pt, map_location="cpu", weights_only=True)
    return {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}


def write_weights(
    net: torch.nn.Module, description: dict[str, Any], path: str | Path
) -> tuple[Path, Path]:
    """Write ``net``'s weights (float16) to ``path.pt`` and ``description`` to ``path.json``.

    Parameters
    ----------
    net : torch.nn.Module
        The network.
    description : dict
        JSON-serialisable description.
    path : str or pathlib.Path
        Destination without suffix (a ``.pt``/``.json`` suffix is replaced).

    Returns
    -------
    tuple of pathlib.Path
        The weights file and the JSON file, each written atomically.
    """
    base = Path(path)
    if base.suffix in (".pt", ".json"):
        base = base.with_suffix("")
    state = {
        k: (v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.detach().cpu())
        for k, v in net.state_dict().items()
    }
    pt, js = base.with_suffix(".pt"), base.with_suffix(".json")
    atomic_torch_save(state, pt)
    atomic_write_json(description, js)
    return pt, js


def resolve_weights(
    model: str | Path | None, *, default: str, shipped_glob: str = "*.pt", written_by: str
) -> tuple[Path, Path]:
    """``NAME.pt`` and ``NAME.json`` of a model given by path or by the name of a shipped one.

    Parameters
    ----------
    model : str, pathlib.Path or None
        ``DIR/NAME`` (with or without ``.pt``/``.json``), a bare name (a shipped model of that
        name if there is one, else a path in the working directory), or None for ``default``.
    default : str
        Name of the shipped model used for None.
    shipped_glob : str
        Which shipped weight files the error message lists as alternatives.
    written_by : str
        What writes such models, for the error message.

    Returns
    -------
    tuple of pathlib.Path
        The weights and the description file; both exist.
    """
    text = str(default if model is None else model)
    base = Path(text)
    if base.suffix in (".pt", ".json"):
        base = base.with_suffix("")
    bare = os.sep not in text and "/" not in text
    if bare and (WEIGHTS_DIR / base.name).with_suffix(".pt").is_file():
        base = WEIGHTS_DIR / base.name  # the name of a shipped model
    pt, js = base.with_suffix(".pt"), base.with_suffix(".json")
    for f in (pt, js):
        if not f.is_file():
            shipped = sorted(p.stem for p in WEIGHTS_DIR.glob(shipped_glob))
            raise FileNotFoundError(
                f"model={text!r}: {f} does not exist. Expected the name of a shipped model "
                f"({shipped}) or the path of a trained model (NAME.pt beside NAME.json, as "
                f"written by {written_by})."
            )
    return pt, js


def _resolve(model: str | Path | None) -> tuple[Path, Path]:
    return resolve_weights(
        model, default=DEFAULT_MODEL, shipped_glob="unet_*.pt", written_by="`voxpick train`"
    )


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
    """
    pt, js = _resolve(model)
    info = read_description(js, MODEL_FORMAT, hint="")
    spec = ModelSpec.from_dict(info["model"])
    net = build_model(spec)
    net.load_state_dict(read_state(pt))
    dev = pick_device(device)
    net.to(dev).eval()
    return HeatmapModel(
        net=net,
        spec=spec,
        model_diameter=float(info["model_diameter"]),
        sigma=float(info["sigma"]),
        threshold=float(info.get("threshold", FALLBACK_THRESHOLD)),
        device=dev,
        info=info,
    )
