"""Realistic simulated confocal volumes of dense colloids with exact ground truth.

See :func:`simulate_volume` for one volume and :func:`simulate_dataset` for many with
parameters drawn from ranges.
"""

from voxpick.simulate.dataset import ParameterRanges, simulate_dataset
from voxpick.simulate.packing import Packing, pack_spheres
from voxpick.simulate.volume import CHALLENGE_METADATA_COLUMNS, SimulatedVolume, simulate_volume

__all__ = [
    "CHALLENGE_METADATA_COLUMNS",
    "Packing",
    "ParameterRanges",
    "SimulatedVolume",
    "pack_spheres",
    "simulate_dataset",
    "simulate_volume",
]
