"""The U-Net's minimum separation: F1 against impossible neighbours, on validation volumes.

Usage (from the repository root)::

    python -m bench.benchmarks.unet_separation [--quick]

The 24 threshold-validation volumes of ``bench/recipes/train_default.py`` (seed 4242, never
reported as test figures) are located with the shipped U-Net for several ``separation`` values (in
diameters). For each: the mean F1 at the model's threshold and at the best threshold (groups
weighted equally, as when the threshold was chosen), and the share of detections whose nearest
neighbour is closer than 0.8 diameter (impossible for hard spheres). Writes the section "U-Net
separation" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from bench.common.colloids import THRESHOLDS, conditions, simulate_condition
from bench.common.report import markdown_table, update_section
from bench.common.splits import VAL_SEED
from voxpick import locate
from voxpick.analysis import neighbour_ratios
from voxpick.metrics import evaluate
from voxpick.ml import load_model

SEPARATIONS = (0.45, 0.55, 0.65, 0.75, 0.85)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="4 volumes, not for docs")
    args = parser.parse_args()
    model = load_model(device="cpu")
    rows = []
    for c in conditions(VAL_SEED, 2 if args.quick else 18, 2 if args.quick else 6):
        sim = simulate_condition(c)
        d = 2 * c["radius"]
        for sep in SEPARATIONS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found = locate(
                    sim.volume,
                    diameter=d,
                    method="unet",
                    model=model,
                    threshold=0.05,
                    separation=sep * d,
                )
            row = {"group": c["group"], "separation": sep}
            for t in THRESHOLDS:
                kept = found[found["heatmap"] >= t]
                row[t] = evaluate(sim.truth, kept, diameter=d).f1
                if np.isclose(t, model.threshold):
                    row["close"] = float(np.mean(neighbour_ratios(kept, diameter=d) < 0.8))
            rows.append(row)
        print(c["group"], c["volfrac"], flush=True)
    df = pd.DataFrame(rows)
    per_group = df.groupby(["separation", "group"])[[*THRESHOLDS, "close"]].mean()
    mean = per_group.groupby("separation").mean()
    t0 = min(THRESHOLDS, key=lambda t: abs(t - model.threshold))
    table = pd.DataFrame({
        "separation (d)": mean.index,
        f"mean F1 at threshold {model.threshold:g}": mean[t0].to_numpy(),
        "best mean F1": mean[list(THRESHOLDS)].max(axis=1).to_numpy(),
        "at threshold": [THRESHOLDS[int(np.argmax(r))] for r in mean[list(THRESHOLDS)].to_numpy()],
        "share closer than 0.8 d (general)": per_group.xs("general", level="group")["close"]
        .to_numpy(),
        "share closer than 0.8 d (phi 0.55, SNR=CNR=3)": per_group.xs(
            "phi0.55 SNR=CNR=3", level="group"
        )["close"].to_numpy(),
    })  # fmt: skip
    body = markdown_table(table)
    print(body)
    if args.quick:
        return
    note = (
        f"The {len(df) // len(SEPARATIONS)} threshold-validation volumes of "
        f"`bench/recipes/train_default.py` (seed {VAL_SEED}: 18 of the general ranges, 6 at volume "
        "fraction 0.55, SNR = CNR = 3, 0.21-0.30 um), located with the shipped U-Net and "
        "`separation` = the given fraction of the diameter. Mean F1 over the two groups, weighted "
        "equally, at the model's threshold and at the best one; share of detections (at the "
        "model's threshold) whose nearest neighbour is closer than 0.8 diameter."
    )
    update_section(
        "U-Net separation",
        note + "\n\n" + body,
        command="python -m bench.benchmarks.unet_separation",
    )


if __name__ == "__main__":
    main()
