"""Deep-learning particle detection: a small 3D U-Net predicting a particle-centre heatmap.

* :class:`UNetDetector` (``voxpick.locate(..., method="unet")``): find every particle with a
  trained model (the shipped one by default), scale-normalised so one model serves any particle
  size and z/xy ratio; tiled for any volume.
* :class:`AutoDetector` (``method="auto"``, the default): the U-Net on crowded volumes, else
  the classical detector.
* :func:`load_model`: load the shipped model or one written by :func:`train`, offline.
* :func:`train`, :class:`TrainConfig`: train on simulated volumes (``voxpick train``).

See ``docs/ml.md``.
"""

from voxpick.ml.auto import AutoDetector
from voxpick.ml.detector import UNetDetector
from voxpick.ml.infer import predict_heatmap
from voxpick.ml.store import DEFAULT_MODEL, HeatmapModel, load_model, save_model
from voxpick.ml.train import TrainConfig, TrainResult, train
from voxpick.nn.model import ModelSpec, build_model

__all__ = [
    "DEFAULT_MODEL",
    "AutoDetector",
    "HeatmapModel",
    "ModelSpec",
    "TrainConfig",
    "TrainResult",
    "UNetDetector",
    "build_model",
    "load_model",
    "predict_heatmap",
    "save_model",
    "train",
]
