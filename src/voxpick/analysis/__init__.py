"""Structure of a tracking result: g(r), volume fraction, neighbours, overlaps, q4/q6.

The HTML report (:func:`voxpick.analysis.report.build_report`) lives in its own module so that
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
from voxpick.analysis.structure import close_pairs, nearest_neighbour_distances
from voxpick.detect.measure import detected_volume_fraction

__all__ = [
    "DEFAULT_CUTOFF_DIAMETERS",
    "DiameterCheck",
    "check_diameter",
    "close_pairs",
    "coordination_numbers",
    "crowding_warning",
    "detected_volume_fraction",
    "first_minimum",
    "nearest_neighbour_distances",
    "neighbour_ratios",
    "overlap_report",
    "pair_correlation",
    "steinhardt",
]
