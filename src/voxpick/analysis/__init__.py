"""Structure of a tracking result: g(r), volume fraction, neighbours, overlaps, q4/q6; linking.

Trajectories and their mean squared displacement (trackpy, extra ``track``):
:func:`link`, :func:`msd`, :func:`diffusion_coefficient`.

The HTML reports (:func:`voxpick.analysis.report.build_report`, and for cryo-ET picks
:func:`voxpick.analysis.picks_report.build_picks_report`) live in their own modules so that
importing this package does not import matplotlib.
"""

from voxpick.analysis.diameter import (
    DiameterCheck,
    check_diameter,
    crowding_warning,
    neighbour_ratios,
)
from voxpick.analysis.neighbours import (
    DEFAULT_CUTOFF_DIAMETERS,
    coordination_numbers,
    overlap_report,
)
from voxpick.analysis.order import steinhardt
from voxpick.analysis.rdf import first_minimum, pair_correlation
from voxpick.analysis.structure import (
    close_pairs,
    detections_per_plane,
    nearest_neighbour_distances,
)
from voxpick.analysis.tracking import diffusion_coefficient, link, msd
from voxpick.detect.measure import detected_volume_fraction

__all__ = [
    "DEFAULT_CUTOFF_DIAMETERS",
    "DiameterCheck",
    "check_diameter",
    "close_pairs",
    "coordination_numbers",
    "crowding_warning",
    "detected_volume_fraction",
    "detections_per_plane",
    "diffusion_coefficient",
    "first_minimum",
    "link",
    "msd",
    "nearest_neighbour_distances",
    "neighbour_ratios",
    "overlap_report",
    "pair_correlation",
    "steinhardt",
]
