"""Deep-learning particle detection: a small 3D U-Net predicting a particle-centre heatmap.

* :func:`locate_unet`: find every particle with a trained model (the shipped one by default),
  scale-normalised so one model serves any particle size and z/xy ratio; tiled for any volume.
* :func:`load_model`: load the shipped model or one written by :func:`train`, offline.
* :func:`train`, :class:`TrainConfig`: train on simulated volumes (``voxpick train``).

See ``docs/ml.md``.
"""

from voxpick.ml.infer import locate_unet, predict_heatmap
from voxpick.ml.model import ModelSpec, build_model
from voxpick.ml.store import DEFAULT_MODEL, HeatmapModel, load_model, save_model
from voxpick.ml.train import TrainConfig, TrainResult, train

__all__ = [
    "DEFAULT_MODEL",
    "HeatmapModel",
    "ModelSpec",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "load_model",
    "locate_unet",
    "predict_heatmap",
    "save_model",
    "train",
]
