"""Particle detection: the detector contract, the classical detector and its building blocks.

* :mod:`voxpick.detect.contract`: the three steps every detector implements (estimate, find,
  finish) and the registry :func:`voxpick.locate` dispatches through.
* :class:`ClassicalDetector`: LoG band-pass, noise-calibrated score, local maxima and quadratic
  sub-voxel refinement (see ``docs/locate.md``).
* :mod:`voxpick.detect.schema`: the one output schema, :data:`DETECTION_COLUMNS`.
* :func:`suppress_close`: the one non-maximum suppression.

The learned detectors (U-Net, auto) live in :mod:`voxpick.ml`.
"""

from voxpick.detect.classical import ClassicalDetector
from voxpick.detect.contract import (
    Detector,
    Setup,
    detector_class,
    detector_names,
    get_detector,
    register_detector,
)
from voxpick.detect.maxima import suppress_close
from voxpick.detect.measure import measure_particles
from voxpick.detect.schema import DETECTION_COLUMNS, DETECTION_DTYPES, detections_frame

__all__ = [
    "DETECTION_COLUMNS",
    "DETECTION_DTYPES",
    "ClassicalDetector",
    "Detector",
    "Setup",
    "detections_frame",
    "detector_class",
    "detector_names",
    "get_detector",
    "measure_particles",
    "register_detector",
    "suppress_close",
]
