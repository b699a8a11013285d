"""Scoring detections against ground truth, three ways.

* The clean metric (default): :func:`evaluate`, :func:`match_points`, :func:`pr_curve`,
  :func:`average_precision`.
* The colloid challenge's AP, reproduced exactly: :func:`challenge_ap`,
  :func:`challenge_precision_recall`.
* The CZII CryoET competition F-beta, reproduced exactly: :func:`czii_score`; the outcome of
  every pick and truth particle under its rule: :func:`czii_outcomes`.
* Trajectories: the share of frame-to-frame links that follow the true particles,
  :func:`link_accuracy`.

See ``docs/metrics.md`` for the precise definitions.
"""

from voxpick.metrics.challenge import (
    CHALLENGE_THRESHOLDS,
    challenge_ap,
    challenge_precision_recall,
)
from voxpick.metrics.clean import (
    DEFAULT_AP_FRACTIONS,
    Evaluation,
    average_precision,
    evaluate,
    interpolated_ap,
    pr_curve,
)
from voxpick.metrics.czii import CZII_PARTICLES, CziiParticle, czii_outcomes, czii_score
from voxpick.metrics.matching import MATCH_METHODS, MatchResult, match_points
from voxpick.metrics.tracking import LinkScore, link_accuracy

__all__ = [
    "CHALLENGE_THRESHOLDS",
    "CZII_PARTICLES",
    "DEFAULT_AP_FRACTIONS",
    "MATCH_METHODS",
    "CziiParticle",
    "Evaluation",
    "LinkScore",
    "MatchResult",
    "average_precision",
    "challenge_ap",
    "challenge_precision_recall",
    "czii_outcomes",
    "czii_score",
    "evaluate",
    "interpolated_ap",
    "link_accuracy",
    "match_points",
    "pr_curve",
]
