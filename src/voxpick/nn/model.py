"""The network: a small 3D U-Net that predicts a per-voxel particle-centre heatmap (logits)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from voxpick.nn.config import config_from_dict, config_to_dict

#: Every input edge given to the network must be a multiple of this (three stride-2 levels).
SIZE_MULTIPLE = 8

#: Network families :class:`ModelSpec` can build.
ARCHITECTURES = ("unet", "segresnet")


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of the network (3D, one input channel; MONAI ``UNet`` or ``SegResNet``).

    Attributes
    ----------
    channels : tuple of int
        Feature channels per level, finest first. For ``"segresnet"`` each level doubles the
        one before and the first is a multiple of 8 (its group norm has 8 groups).
    strides : tuple of int
        Down-sampling stride between consecutive levels (``len(channels) - 1`` values); all 2
        for ``"segresnet"``.
    num_res_units : int
        Residual units per block (0 = plain convolutions); ``"unet"`` only.
    architecture : {"unet", "segresnet"}
        ``"unet"`` (default, the shipped models): MONAI ``UNet`` with batch norm.
        ``"segresnet"``: MONAI ``SegResNet`` (residual encoder of 1, 2, 2, 4 ... blocks, one
        block per decoder level, group norm), the family of several CZII winners.
    """

    channels: tuple[int, ...] = (16, 32, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2)
    num_res_units: int = 1
    architecture: str = "unet"

    def __post_init__(self) -> None:
        chans = tuple(int(c) for c in self.channels)
        strides = tuple(int(s) for s in self.strides)
        if len(chans) < 2 or min(chans) < 1:
            raise ValueError(
                f"channels={self.channels!r} is invalid: expected at least two positive ints, "
                "e.g. (16, 32, 64, 128)."
            )
        if len(strides) != len(chans) - 1 or min(strides) < 1:
            raise ValueError(
                f"strides={self.strides!r} is invalid: expected {len(chans) - 1} positive ints "
                f"(one fewer than channels={chans})."
            )
        if int(self.num_res_units) < 0:
            raise ValueError(f"num_res_units={self.num_res_units!r} must be >= 0.")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture={self.architecture!r} is unknown: expected one of {ARCHITECTURES}."
            )
        if self.architecture == "segresnet" and (
            chans[0] % 8
            or any(c != chans[0] * 2**i for i, c in enumerate(chans))
            or any(s != 2 for s in strides)
        ):
            raise ValueError(
                f"channels={chans} and strides={strides} do not fit a SegResNet: expected "
                "channels doubling from a multiple of 8, e.g. (16, 32, 64, 128), and strides "
                "of 2."
            )
        object.__setattr__(self, "channels", chans)
        object.__setattr__(self, "strides", strides)
        object.__setattr__(self, "num_res_units", int(self.num_res_units))

    @property
    def size_multiple(self) -> int:
        """Input edges must be multiples of this (the product of the strides)."""
        out = 1
        for s in self.strides:
            out *= s
        return out

    def as_dict(self) -> dict[str, Any]:
        """Return the spec as a JSON-serialisable dictionary."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """Build a spec from :meth:`as_dict` output (unknown keys are an error)."""
        return config_from_dict(cls, data)


def build_model(spec: ModelSpec | None = None, *, out_channels: int = 1) -> nn.Module:
    """Create an untrained heatmap network (a U-Net unless ``spec.architecture`` says otherwise).

    Parameters
    ----------
    spec : ModelSpec, optional
        Architecture; the default is the shipped model's.
    out_channels : int
        Output maps: 1 for the colloid heatmap, ``1 + n_classes`` for the multi-class picker
        (:func:`voxpick.cryoet.train_picker`).

    Returns
    -------
    torch.nn.Module
        Maps ``(B, 1, Z, Y, X)`` normalised intensities to ``(B, out_channels, Z, Y, X)``
        logits; every spatial edge must be a multiple of ``spec.size_multiple``.
    """
    spec = spec or ModelSpec()
    if spec.architecture == "segresnet":
        from monai.networks.nets import SegResNet

        levels = len(spec.channels)
        return SegResNet(
            spatial_dims=3,
            init_filters=spec.channels[0],
            in_channels=1,
            out_channels=int(out_channels),
            blocks_down=(1,) + (2,) * max(0, levels - 2) + (4,),
            blocks_up=(1,) * (levels - 1),
        )
    from monai.networks.nets import UNet

    return UNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=int(out_channels),
        channels=spec.channels,
        strides=spec.strides,
        num_res_units=spec.num_res_units,
        norm="batch",  # eval-mode batch norm is local: tiles equal the whole volume
    )


def pick_device(device: str | torch.device | None) -> torch.device:
    """Resolve ``device``: ``None`` picks CUDA when available, else the CPU.

    Parameters
    ----------
    device : str, torch.device or None
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, a device, or ``None`` for automatic.

    Returns
    -------
    torch.device
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device={device!r} is not a torch device: expected 'cpu', 'cuda' or None (auto)."
        ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available: use device='cpu' or "
            "None (auto)."
        )
    return dev
