"""The one output schema of every detector, however it ran (whole volume or block by block).

Columns, in this order (positions in voxels of the input volume, axes z, y, x):

==============  =========  ==================================================================
column          dtype      meaning
==============  =========  ==================================================================
``z, y, x``     float64    sub-voxel centre
``score``       float64    confidence relative to the detector's own threshold: 1 at the
                           threshold, higher is more confident; rows below 1 appear only as
                           candidates (``min_score``). Comparable across detectors: every
                           row with ``score >= 1`` is a detection at the default operating point
``detector``    str        which detector produced the row: ``"classical"`` or ``"unet"``
``snr``         float64    the classical band-pass signal-to-noise ratio (NaN for U-Net rows)
``heatmap``     float64    the U-Net's heatmap peak height, 0..1 (NaN for classical rows)
``mass``        float64    integrated brightness above the local background within the
                           diameter ellipsoid (as trackpy's ``mass``)
``signal``      float64    mean brightness above the local background within the central half
                           of the diameter (as trackpy's ``signal``, a mean rather than a peak)
``background``  float64    local background level
``sharp_only``  bool       found only by the classical detector's sharper second finder
                           (candidate rows of a ``min_score`` sweep; never a default detection)
==============  =========  ==================================================================

:func:`voxpick.refine` returns the same columns followed by ``sigma_z, sigma_y, sigma_x``
(:data:`REFINED_COLUMNS`, float64: each coordinate's standard deviation in voxels).

``DataFrame.attrs`` records the detector (``method``), the diameter and voxel size, the
thresholds and estimated parameters, and the voxpick version; :func:`voxpick.io.write_positions`
keeps them (inside Parquet, in a JSON sidecar beside CSV).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: The columns of every detection table, in order.
DETECTION_COLUMNS: tuple[str, ...] = (
    "z", "y", "x", "score", "detector", "snr", "heatmap", "mass", "signal", "background",
    "sharp_only",
)  # fmt: skip

#: The dtype of each column of :data:`DETECTION_COLUMNS`.
DETECTION_DTYPES: dict[str, Any] = {
    **dict.fromkeys(("z", "y", "x", "score", "snr", "heatmap"), np.float64),
    **dict.fromkeys(("mass", "signal", "background"), np.float64),
    "detector": str,
    "sharp_only": bool,
}

#: Names of the detectors that can appear in the ``detector`` column (``"refine"``: a particle
#: that :func:`voxpick.refine` added).
DETECTOR_NAMES: tuple[str, ...] = ("classical", "unet", "refine")

#: Columns :func:`voxpick.refine` adds to the detection columns: the standard deviation of
#: each coordinate (voxels) from the fit's Fisher information.
SIGMA_COLUMNS: tuple[str, ...] = ("sigma_z", "sigma_y", "sigma_x")

#: The columns of every refined table, in order: the detection columns, then the sigmas.
REFINED_COLUMNS: tuple[str, ...] = DETECTION_COLUMNS + SIGMA_COLUMNS

_DTYPES: dict[str, Any] = {**DETECTION_DTYPES, **dict.fromkeys(SIGMA_COLUMNS, np.float64)}


def detections_frame(
    positions: np.ndarray | None = None,
    *,
    score: np.ndarray | None = None,
    detector: str | np.ndarray = "classical",
    columns: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Build a detection table with the fixed schema, also when there are no detections.

    Parameters
    ----------
    positions : numpy.ndarray, optional
        ``(N, 3)`` positions in (z, y, x) voxels.
    score : numpy.ndarray, optional
        ``(N,)`` relative scores (1 at the detector's threshold); NaN when not given.
    detector : str or numpy.ndarray
        The detector of every row, or one name per row.
    columns : dict of str to numpy.ndarray, optional
        Values of other schema columns (``snr``, ``heatmap``, ``mass``, ...); the missing ones
        are NaN (``sharp_only``: False).

    Returns
    -------
    pandas.DataFrame
        Exactly the columns :data:`DETECTION_COLUMNS` with :data:`DETECTION_DTYPES`.

    Raises
    ------
    ValueError
        A column that is not in the schema.
    """
    pos = np.zeros((0, 3)) if positions is None else np.asarray(positions, dtype=float)
    pos = pos.reshape(-1, 3)
    n = len(pos)
    given = dict(columns or {})
    unknown = sorted(set(given) - set(DETECTION_COLUMNS))
    if unknown:
        raise ValueError(
            f"columns {unknown} are not in the detection schema: expected names from "
            f"{list(DETECTION_COLUMNS)}."
        )
    data: dict[str, Any] = {"z": pos[:, 0], "y": pos[:, 1], "x": pos[:, 2]}
    data["score"] = np.full(n, np.nan) if score is None else np.asarray(score, float).reshape(n)
    names = np.asarray(detector, dtype=object)
    data["detector"] = np.full(n, names, dtype=object) if names.ndim == 0 else names.reshape(n)
    for name in DETECTION_COLUMNS[5:]:
        if name in given:
            data[name] = np.asarray(given[name]).reshape(n)
        else:
            data[name] = np.zeros(n, bool) if name == "sharp_only" else np.full(n, np.nan)
    return conform(pd.DataFrame(data))


def conform(table: pd.DataFrame, columns: tuple[str, ...] = DETECTION_COLUMNS) -> pd.DataFrame:
    """Cast a table to the detection schema: its columns in order, with their dtypes.

    Parameters
    ----------
    table : pandas.DataFrame
        Holds every column of ``columns`` (others are dropped).
    columns : tuple of str
        :data:`DETECTION_COLUMNS` (default) or :data:`REFINED_COLUMNS`.

    Returns
    -------
    pandas.DataFrame
        A new table with a fresh 0..N-1 index; ``attrs`` are kept.
    """
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"the table lacks detection columns {missing}: expected all of "
            f"{list(columns)}. Build it with voxpick.detect.detections_frame()."
        )
    dtypes = {c: _DTYPES[c] for c in columns}
    out = table.loc[:, list(columns)].astype(dtypes).reset_index(drop=True)
    out.attrs = dict(table.attrs)
    return out


def sort_by_score(table: pd.DataFrame) -> pd.DataFrame:
    """Rows in decreasing ``score`` (stable), with a fresh index and the same ``attrs``.

    Parameters
    ----------
    table : pandas.DataFrame

    Returns
    -------
    pandas.DataFrame
    """
    order = np.argsort(-table["score"].to_numpy(dtype=float), kind="stable")
    out = table.iloc[order].reset_index(drop=True)
    out.attrs = dict(table.attrs)
    return out
