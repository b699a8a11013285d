"""Choosing ``method="auto"``'s rule: from which U-Net volume fraction to keep the U-Net, and how.

Usage (from the repository root)::

    python -m bench.benchmarks.auto_method [--quick]

``method="auto"`` (:mod:`voxpick.ml.auto`) runs the shipped U-Net, measures the volume fraction its
detections imply and keeps them at or above a cut; below it, it runs the classical detector.
For each volume both detectors run at their defaults; every cut of a grid is scored by the mean
F1 (matching at < r) of what it returns, under two rules for crowded volumes: *switch* (the
U-Net's detections alone) and *switch + missed* (also the classical detections no U-Net
detection lies within half a diameter of, :func:`voxpick.ml.auto.add_missed`; shipped).
The cut is chosen on the calibration volumes (general ranges, seeds 778 and 779, 9 each) and
checked on the threshold-validation volumes of
``bench/recipes/train_default.py`` (seed 4242; general and hardest-condition groups weighted
equally); neither set is reported as test figures (``bench/benchmarks/accuracy.py`` reports
``voxpick auto`` on the held-out test seeds). Writes the section "Auto method" of
docs/benchmarks.md.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd

from bench.common.colloids import measure_rule_sets, simulate_condition
from bench.common.report import markdown_table, update_section
from bench.common.splits import CALIBRATION_SEEDS, VAL_SEED
from voxpick import locate
from voxpick.metrics import evaluate
from voxpick.ml.auto import DENSE_VOLFRAC, add_missed, unet_volume_fraction

CUTS = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 1.0)


def measure(conds: list[dict], model, name: str) -> list[dict]:
    """Both detectors' F1 and the U-Net's detected volume fraction, per volume."""
    rows = []
    for c in conds:
        sim = simulate_condition(c)
        d = 2 * c["radius"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            unet = locate(sim.volume, diameter=d, method="unet", model=model)
            classical = locate(sim.volume, diameter=d, method="classical")
        phi = unet_volume_fraction(unet, shape=sim.volume.shape, diameter_px=(d, d, d))
        missed = add_missed(unet, classical, diameter_px=(d, d, d))
        rows.append({
            "set": name, "group": c["group"], "volfrac": c["volfrac"], "unet_volfrac": phi,
            "f1_unet": evaluate(sim.truth, unet, diameter=d).f1,
            "f1_classical": evaluate(sim.truth, classical, diameter=d).f1,
            "f1_missed": evaluate(sim.truth, missed, diameter=d).f1,
        })  # fmt: skip
        print(name, c["group"], c["volfrac"], f"{phi:.3f}", flush=True)
    return rows


def score_cuts(df: pd.DataFrame) -> pd.DataFrame:
    """Mean F1 per set, rule and cut (groups weighted equally)."""
    out = []
    for (set_name, sub), (rule, crowded) in itertools.product(
        df.groupby("set", sort=False), (("switch", "f1_unet"), ("switch + missed", "f1_missed"))
    ):
        row: dict = {"volumes": set_name, "rule": rule}
        for cut in CUTS:
            f1 = np.where(sub["unet_volfrac"] >= cut, sub[crowded], sub["f1_classical"])
            picked = pd.Series(f1, index=sub.index)
            row[f"{cut:g}"] = float(picked.groupby(sub["group"]).mean().mean())
        best = np.maximum(sub[crowded], sub["f1_classical"])
        row["better per volume"] = float(best.groupby(sub["group"]).mean().mean())
        out.append(row)
    return pd.DataFrame(out)


def main() -> None:
    df, cal, val, _, quick = measure_rule_sets(measure)
    table = score_cuts(df)
    cut_cols = [f"{c:g}" for c in CUTS]
    shipped = table[(table["volumes"] == "calibration") & (table["rule"] == "switch + missed")]
    chosen = shipped[cut_cols].astype(float).iloc[0].idxmax()
    text = markdown_table(table)
    phis = markdown_table(
        df.groupby(["set", "group", "volfrac"], sort=False)[
            ["unet_volfrac", "f1_unet", "f1_missed", "f1_classical"]
        ]
        .mean()
        .reset_index()
    )
    print(text)
    print(f"best cut on calibration: {chosen} (shipped DENSE_VOLFRAC = {DENSE_VOLFRAC:g})")
    print(phis)
    if quick:
        return
    body = (
        'Mean F1 (matching at < r) of what `method="auto"` returns, per cut on the U-Net\'s '
        "detected volume fraction (0 = always the crowded rule, 1 = always classical), for two "
        "rules on crowded volumes: *switch* (the U-Net's detections) and *switch + missed* "
        "(also the classical detections half a diameter or more from every U-Net one; "
        f"shipped). Calibration: {len(cal)} volumes of the general ranges (seeds "
        f"{', '.join(map(str, CALIBRATION_SEEDS))}), where the cut is chosen; validation: the "
        f"{len(val)} threshold-validation volumes (seed {VAL_SEED}; general and hardest groups "
        "weighted equally). *better per volume* is the oracle that always picks the better of "
        f"the two. Best cut of the shipped rule on calibration: **{chosen}**; shipped "
        f"`DENSE_VOLFRAC = {DENSE_VOLFRAC:g}`.\n\n"
        + text
        + "\n\nMeans per volume fraction (both detectors at their defaults):\n\n"
        + phis
    )
    update_section("Auto method", body, command="python -m bench.benchmarks.auto_method")


if __name__ == "__main__":
    main()
