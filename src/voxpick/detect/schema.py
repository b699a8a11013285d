"""The fixed column schema of every detector's output table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Columns every detection table starts with, in this order. Positions are in voxels, (z, y, x).
DETECTION_COLUMNS: tuple[str, ...] = ("z", "y", "x", "score")


def detections_frame(
    positions: np.ndarray | None = None,
    score: np.ndarray | None = None,
    extra: dict[str, np.ndarray] | None = None,
    extra_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Build a detection table with the fixed schema, also when there are no detections.

    Parameters
    ----------
    positions : numpy.ndarray, optional
        ``(N, 3)`` positions in (z, y, x) voxels.
    score : numpy.ndarray, optional
        ``(N,)`` confidence scores (higher is more confident).
    extra : dict of str to numpy.ndarray, optional
        Additional per-detection columns.
    extra_columns : sequence of str
        Names of extra columns to create (empty) when there are no detections.

    Returns
    -------
    pandas.DataFrame
        Columns ``z, y, x, score`` (float64) then the extra columns.
    """
    pos = np.zeros((0, 3)) if positions is None else np.asarray(positions, dtype=float)
    pos = pos.reshape(-1, 3)
    n = len(pos)
    sc = np.zeros(n) if score is None else np.asarray(score, dtype=float).reshape(n)
    data: dict[str, np.ndarray] = {"z": pos[:, 0], "y": pos[:, 1], "x": pos[:, 2], "score": sc}
    for name in extra_columns:
        data[name] = np.zeros(0) if n == 0 else np.full(n, np.nan)
    for name, values in (extra or {}).items():
        data[name] = np.asarray(values).reshape(n)
    return pd.DataFrame(data)
