"""Realistic simulated volumes with exact ground truth.

Confocal volumes of dense colloids: :func:`simulate_volume` for one volume and
:func:`simulate_dataset` for many with parameters drawn from ranges. Cryo-ET tomograms:
:func:`simulate_tomogram` (particle kinds as :class:`ParticleClass`, optionally laid out as in
real picks with :func:`czii_layout`). Time series of Brownian hard spheres with exact
trajectories: :func:`simulate_brownian`.
"""

from voxpick.simulate.brownian import SimulatedSeries, simulate_brownian
from voxpick.simulate.dataset import ParameterRanges, simulate_dataset
from voxpick.simulate.packing import Packing, pack_spheres
from voxpick.simulate.particles import CZII_LIKE_CLASSES, ParticleClass
from voxpick.simulate.tomogram import czii_layout, simulate_tomogram
from voxpick.simulate.volume import CHALLENGE_METADATA_COLUMNS, SimulatedVolume, simulate_volume

__all__ = [
    "CHALLENGE_METADATA_COLUMNS",
    "CZII_LIKE_CLASSES",
    "Packing",
    "ParameterRanges",
    "ParticleClass",
    "SimulatedSeries",
    "SimulatedVolume",
    "czii_layout",
    "pack_spheres",
    "simulate_brownian",
    "simulate_dataset",
    "simulate_tomogram",
    "simulate_volume",
]
