"""Scoring trajectories against true ones: how many frame-to-frame links are right.

A *true link* is a pair of consecutive frames ``(t, t + 1)`` in which one true particle is in
the volume in both. In each frame, detections are matched one-to-one to the true particles
within ``max_distance`` (:func:`voxpick.metrics.match_points`). A true link whose two ends
are both matched is *detected*; it is *correct* when its two detections carry the same track
id. Conversely, a *track link* is a pair of consecutive frames of one track; when both of its
detections are matched it is *correct* when they match the same true particle. Missed
detections are counted apart (``coverage``), so that linking and detection are scored
separately. See ``docs/tracking.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from voxpick.metrics.matching import match_points


@dataclass(frozen=True, repr=False)
class LinkScore:
    """Link counts of a tracking result against the truth.

    Attributes
    ----------
    n_true_links : int
        Consecutive-frame pairs of a true particle.
    n_detected_links : int
        Those whose two ends were both matched to a detection.
    n_correct : int
        Those whose two detections carry the same track id.
    n_track_links : int
        Consecutive-frame pairs of a track whose two detections both matched a true particle.
    n_track_correct : int
        Those that join the same true particle.
    """

    n_true_links: int
    n_detected_links: int
    n_correct: int
    n_track_links: int
    n_track_correct: int

    @property
    def accuracy(self) -> float:
        """Correct links over detected true links (1 when there is none)."""
        return self.n_correct / self.n_detected_links if self.n_detected_links else 1.0

    @property
    def precision(self) -> float:
        """Correct track links over track links between matched detections."""
        return self.n_track_correct / self.n_track_links if self.n_track_links else 1.0

    @property
    def coverage(self) -> float:
        """Detected true links over all true links (the detector's share)."""
        return self.n_detected_links / self.n_true_links if self.n_true_links else 1.0

    def __repr__(self) -> str:
        return (
            f"LinkScore(accuracy={self.accuracy:.4f}: {self.n_correct} of "
            f"{self.n_detected_links} detected true links correct; precision="
            f"{self.precision:.4f}; coverage={self.coverage:.3f} of {self.n_true_links})"
        )


def _consecutive(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row positions ``(a, b)`` of pairs of one ``particle`` in frames ``t`` and ``t + 1``."""
    order = np.lexsort((table["frame"].to_numpy(), table["particle"].to_numpy()))
    ids = table["particle"].to_numpy()[order]
    frames = table["frame"].to_numpy()[order]
    step = (ids[1:] == ids[:-1]) & (frames[1:] - frames[:-1] == 1)
    return order[:-1][step], order[1:][step]


def _check(table: Any, name: str) -> pd.DataFrame:
    cols = ("frame", "particle", "z", "y", "x")
    if not isinstance(table, pd.DataFrame) or any(c not in table.columns for c in cols):
        found = list(table.columns) if isinstance(table, pd.DataFrame) else type(table).__name__
        raise ValueError(
            f"{name} must be a DataFrame with columns {list(cols)} (found {found}): truth from "
            "voxpick.simulate.simulate_brownian, tracks from voxpick.analysis.link."
        )
    return table.reset_index(drop=True)


def link_accuracy(
    truth: pd.DataFrame, tracks: pd.DataFrame, *, max_distance: float, voxel_size: Any = 1
) -> LinkScore:
    """Count the frame-to-frame links of ``tracks`` that follow the true particles.

    Parameters
    ----------
    truth, tracks : pandas.DataFrame
        Columns ``frame``, ``particle``, ``z, y, x`` (voxels): the true trajectories (e.g.
        :func:`voxpick.simulate.simulate_brownian`) and the linked ones (e.g.
        :func:`voxpick.analysis.link`).
    max_distance : float
        Largest distance between a detection and its true particle, units of ``voxel_size``
        (e.g. half a diameter).
    voxel_size : float or sequence of 3 float
        Voxel size (z, y, x).

    Returns
    -------
    LinkScore
        Counts, and ``accuracy`` (correct over detected true links), ``precision`` and
        ``coverage``.
    """
    truth = _check(truth, "truth")
    tracks = _check(tracks, "tracks")
    truth_det = np.full(len(truth), -1)  # matched detection of each truth row
    det_truth = np.full(len(tracks), -1)  # matched truth row of each detection
    t_frames = truth.groupby("frame").indices
    d_frames = tracks.groupby("frame").indices
    for frame, t_rows in t_frames.items():
        d_rows = d_frames.get(frame)
        if d_rows is None:
            continue
        res = match_points(
            truth.loc[t_rows, ["z", "y", "x"]], tracks.loc[d_rows, ["z", "y", "x"]],
            max_distance=max_distance, voxel_size=voxel_size,
        )  # fmt: skip
        truth_det[t_rows[res.truth_index]] = d_rows[res.pred_index]
        det_truth[d_rows[res.pred_index]] = t_rows[res.truth_index]
    track_id = tracks["particle"].to_numpy()
    a, b = _consecutive(truth)
    both = (truth_det[a] >= 0) & (truth_det[b] >= 0)
    same_track = track_id[truth_det[a[both]]] == track_id[truth_det[b[both]]]
    true_id = truth["particle"].to_numpy()
    c, d = _consecutive(tracks)
    matched = (det_truth[c] >= 0) & (det_truth[d] >= 0)
    same_particle = true_id[det_truth[c[matched]]] == true_id[det_truth[d[matched]]]
    return LinkScore(
        n_true_links=len(a), n_detected_links=int(both.sum()), n_correct=int(same_track.sum()),
        n_track_links=int(matched.sum()), n_track_correct=int(same_particle.sum()),
    )  # fmt: skip
