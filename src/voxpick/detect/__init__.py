"""Particle detection: :func:`locate` finds every particle in a 3D volume.

* :func:`locate` dispatches to a method: ``"auto"`` (default; :func:`locate_auto`),
  ``"classical"`` or ``"unet"``.
* :func:`locate_auto`: the shipped U-Net on crowded volumes, the classical detector otherwise.
* :func:`locate_classical`: LoG band-pass, noise-calibrated score, local maxima at a small
  separation and quadratic sub-voxel refinement (see ``docs/locate.md``).
* Every detector returns a table with the fixed columns :data:`DETECTION_COLUMNS` first; build
  one with :func:`detections_frame`.
"""

from voxpick.detect.auto import locate_auto
from voxpick.detect.classical import CLASSICAL_COLUMNS, locate_classical
from voxpick.detect.locate import METHODS, locate
from voxpick.detect.schema import DETECTION_COLUMNS, detections_frame

__all__ = [
    "CLASSICAL_COLUMNS",
    "DETECTION_COLUMNS",
    "METHODS",
    "detections_frame",
    "locate",
    "locate_auto",
    "locate_classical",
]
