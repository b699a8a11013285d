"""The shared neural-network layer: architecture, training loop, model store, tiled prediction.

Used by the colloid U-Net (:mod:`voxpick.ml`) and the cryo-ET picker (:mod:`voxpick.cryoet`):

* :mod:`voxpick.nn.model`: the 3D U-Net (:class:`ModelSpec`, :func:`build_model`) and devices.
* :mod:`voxpick.nn.train`: the one training loop (:func:`fit`), its learning-rate
  :class:`Schedule` and checkpoint format (:func:`load_checkpoint`).
* :mod:`voxpick.nn.store`: the one model store (weights + JSON description, shipped models in
  :data:`WEIGHTS_DIR`), read with ``weights_only=True``.
* :mod:`voxpick.nn.predict`: tiled prediction over a volume of any size.
"""

from voxpick.nn.model import ModelSpec, build_model, pick_device
from voxpick.nn.predict import DEFAULT_TILE, predict_channels
from voxpick.nn.store import WEIGHTS_DIR, ModelKind, load_stored, save_stored
from voxpick.nn.train import Checkpoint, Schedule, TrainResult, fit, load_checkpoint

__all__ = [
    "DEFAULT_TILE",
    "WEIGHTS_DIR",
    "Checkpoint",
    "ModelKind",
    "ModelSpec",
    "Schedule",
    "TrainResult",
    "build_model",
    "fit",
    "load_checkpoint",
    "load_stored",
    "pick_device",
    "predict_channels",
    "save_stored",
]
