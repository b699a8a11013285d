"""Checks of a tracking result: volume fraction, neighbour distances, overlaps."""

from voxpick.analysis.structure import (
    close_pairs,
    detected_volume_fraction,
    nearest_neighbour_distances,
)

__all__ = ["close_pairs", "detected_volume_fraction", "nearest_neighbour_distances"]
