"""Object-type and failure analysis of cryo-ET picks against truth (built on czii_outcomes).

Every function takes the frames :func:`voxpick.metrics.czii.czii_outcomes` returns (picks
with ``hit`` and ``truth_type``, truth with ``found`` and ``picked_as``), so the hit rule is
the CZII score's everywhere.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from voxpick.cryoet.picking import ball_offsets

#: Column of the confusion table for particles no pick of any class reached.
MISSED = "missed"
#: Row of the confusion table for picks on no particle at all.
NOTHING = "nothing there"


def confusion_table(picks: pd.DataFrame, truth: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Rows: true class (or :data:`NOTHING`); columns: picked class, and :data:`MISSED`.

    A pick that hits counts on its own class's diagonal; a false pick counts on the row of the
    particle of another class whose zone it falls in (``truth_type``), else on
    :data:`NOTHING`. A particle no pick of any class reached counts under :data:`MISSED`.
    """
    table = pd.DataFrame(0, index=[*names, NOTHING], columns=[*names, MISSED])
    for own, hit, other in zip(
        picks["particle_type"], picks["hit"], picks["truth_type"], strict=True
    ):
        row = own if hit else (other or NOTHING)
        table.loc[row, own] += 1
    lost = truth[~truth["found"] & (truth["picked_as"] == "")]
    counts = lost["particle_type"].value_counts()
    table[MISSED] = [int(counts.get(name, 0)) for name in table.index]
    return table


def confused_with(picks: pd.DataFrame, truth: pd.DataFrame, name: str) -> str:
    """Short text: what a class's missed particles were picked as, and its false picks were."""
    miss = truth[(truth["particle_type"] == name) & ~truth["found"]]
    as_other = Counter(str(v) or "not picked" for v in miss["picked_as"])
    false = picks[(picks["particle_type"] == name) & ~picks["hit"]]
    on = Counter(str(v) or "background" for v in false["truth_type"])

    def text(c: Counter[str]) -> str:
        return ", ".join(f"{k.replace('class_', 'c')} {v}" for k, v in c.most_common(3)) or "-"

    return f"misses: {text(as_other)}; false: {text(on)}"


def neighbour_context(truth: pd.DataFrame, radii_A: dict[str, float]) -> pd.DataFrame:
    """Per particle: nearest other particle's distance over the two radii, touching or not.

    ``truth`` is in Angstrom with ``experiment``; adds ``nn_over_radii`` (centre distance
    divided by the sum of both radii: 1 is touching spheres) and ``crowded``
    (``nn_over_radii < 1.2``).
    """
    out = truth.copy()
    ratio = np.full(len(out), np.inf)
    for _, idx in out.groupby("experiment").indices.items():
        sub = out.iloc[idx]
        if len(sub) < 2:
            continue
        pos = sub[["z", "y", "x"]].to_numpy(float)
        r = sub["particle_type"].map(radii_A).to_numpy(float)
        dist, j = cKDTree(pos).query(pos, k=2)
        ratio[idx] = dist[:, 1] / (r + r[j[:, 1]])
    out["nn_over_radii"] = ratio
    out["crowded"] = ratio < 1.2
    return out


def particle_contrast(
    volume: np.ndarray, centres_vox: np.ndarray, radii_vox: np.ndarray
) -> np.ndarray:
    """Darkness of each particle over the tomogram's noise: a per-particle SNR proxy.

    Mean of the inverted volume over the ball of half the particle's radius, minus the
    tomogram's median, over its robust standard deviation (1.4826 MAD).
    """
    vol = np.asarray(volume, dtype=np.float32)
    sample = vol.ravel()[:: max(1, vol.size // 1_000_000)].astype(np.float64)
    med = float(np.median(sample))
    scale = max(1.4826 * float(np.median(np.abs(sample - med))), 1e-12)
    shape = np.asarray(vol.shape)
    out = np.zeros(len(centres_vox))
    for i, (c, r) in enumerate(zip(centres_vox, radii_vox, strict=True)):
        pos = np.rint(c).astype(np.int64) + ball_offsets(max(1.0, 0.5 * float(r)))
        pos = pos[np.all((pos >= 0) & (pos < shape), axis=1)]
        if len(pos):
            out[i] = (med - float(vol[pos[:, 0], pos[:, 1], pos[:, 2]].mean())) / scale
    return out


def failure_summary(truth: pd.DataFrame) -> pd.DataFrame:
    """Found against missed particles per class: counts, crowding and contrast (medians).

    ``truth`` has ``found``, ``nn_over_radii``, ``crowded`` and ``contrast`` columns.
    """
    rows = []
    for name, g in truth.groupby("particle_type", sort=False):
        for label, part in (("found", g[g["found"]]), ("missed", g[~g["found"]])):
            if part.empty:
                continue
            rows.append({
                "particle_type": str(name), "outcome": label, "n": len(part),
                "nn / (r1 + r2)": float(part["nn_over_radii"].median()),
                "touching (< 1.2)": float(part["crowded"].mean()),
                "contrast": float(part["contrast"].median()),
            })  # fmt: skip
    return pd.DataFrame(rows)
