"""Test-time scale augmentation for the heatmap U-Net: one volume at several assumed diameters.

The U-Net resamples a volume so the given diameter becomes the model's. Its F1 on a single
volume can move by up to 0.15 when that diameter is off by 10% (``docs/ml.md``, "Scale
augmentation"), in either direction, because blur makes the apparent size differ from the
true one. Locating at a few diameters around the given one and merging the detections averages
that sensitivity out: :func:`merge_scales` clusters the detections of all scales (greedily, from
the highest score, everything within half a diameter of it), places each particle at the
score-weighted mean of its cluster and scores it by the mean over scales (a scale with no
detection there counts 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

#: Diameter multipliers of ``scales="tta"`` (``method="unet"``), chosen on calibration volumes.
TTA_SCALES = (0.9, 1.0, 1.1)

#: Lowest peak height each scale contributes to the merge (below the model's threshold).
CANDIDATE_THRESHOLD = 0.05

#: Merge radius, in diameters per axis.
MERGE_DISTANCE = 0.5


def check_scales(scales: Any) -> tuple[float, ...]:
    """Validate ``scales``: ``"tta"``, or a non-empty sequence of diameter multipliers.

    Parameters
    ----------
    scales : str or sequence of float
        ``"tta"`` (:data:`TTA_SCALES`) or multipliers, each from 0.5 to 2.

    Returns
    -------
    tuple of float
    """
    if isinstance(scales, str):
        if scales != "tta":
            raise ValueError(
                f"scales={scales!r} is unknown: expected 'tta' ({TTA_SCALES}) or a sequence of "
                "diameter multipliers such as (0.9, 1.0, 1.1)."
            )
        return TTA_SCALES
    try:
        values = tuple(float(s) for s in scales)
    except (TypeError, ValueError):
        raise TypeError(
            f"scales={scales!r} must be 'tta' or a sequence of numbers, e.g. (0.9, 1.0, 1.1)."
        ) from None
    if not values or not all(0.5 <= v <= 2.0 for v in values):
        raise ValueError(
            f"scales={scales!r} must hold one or more diameter multipliers from 0.5 to 2, "
            "e.g. (0.9, 1.0, 1.1); (1.0,) is a single pass."
        )
    return values


def merge_scales(
    found: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    diameter_px: Sequence[float],
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Merge the detections of one volume located at several scales.

    Parameters
    ----------
    found : sequence of (positions, heights)
        One ``((N, 3) positions, (N,) peak heights)`` pair per scale, in input voxels.
    diameter_px : sequence of 3 float
        Particle diameter per axis (voxels); sets the merge radius.
    threshold : float
        Keep merged particles scoring at least this (mean height over the scales).

    Returns
    -------
    positions : numpy.ndarray
        ``(M, 3)`` merged centres, sorted by decreasing score.
    scores : numpy.ndarray
        ``(M,)`` mean heights.
    """
    d = np.asarray(diameter_px, dtype=float)
    pairs = [(np.asarray(p, float).reshape(-1, 3), np.asarray(h, float)) for p, h in found]
    pairs = [(p, h) for p, h in pairs if len(p)]
    if not pairs:
        return np.zeros((0, 3)), np.zeros(0)
    pos = np.concatenate([p for p, _ in pairs])
    score = np.concatenate([h for _, h in pairs])
    order = np.argsort(-score, kind="stable")
    pos, score = pos[order], score[order]
    # all neighbour lists in one query; the greedy pass then only reads them
    neighbours = cKDTree(pos / d).query_ball_point(pos / d, MERGE_DISTANCE)
    label = np.full(len(pos), -1, dtype=np.int64)
    n_clusters = 0
    for i, near in enumerate(neighbours):
        if label[i] >= 0:
            continue
        idx = np.asarray(near, dtype=np.int64)
        label[idx[label[idx] < 0]] = n_clusters
        n_clusters += 1
    weight = np.bincount(label, weights=score, minlength=n_clusters)
    centres = (
        np.stack(
            [np.bincount(label, weights=score * pos[:, a], minlength=n_clusters) for a in range(3)],
            axis=1,
        )
        / weight[:, None]
    )
    merged = weight / len(found)
    keep = merged >= threshold
    order = np.argsort(-merged[keep], kind="stable")
    return centres[keep][order], merged[keep][order]
