"""Test-time scale augmentation of the U-Net: locate at 0.9, 1.0 and 1.1 times the diameter.

Usage (from the repository root)::

    python -m bench.benchmarks.unet_scales [--quick]

Each volume is located by the shipped U-Net at each diameter multiplier (peaks down to the merge's
candidate height); single-scale F1 at the model's threshold shows how much one volume's result
depends on the assumed diameter, and :func:`voxpick.ml.tta.merge_scales` of the three is scored
over a grid of thresholds on the merged (mean) score. The threshold is chosen on the
calibration volumes (general ranges, seeds 778 and 779) and checked on the threshold-validation
volumes of ``bench/recipes/train_default.py`` (seed 4242; general and hardest-condition groups
weighted equally). Writes the section "U-Net scale augmentation" of docs/benchmarks.md.
"""

from __future__ import annotations

import warnings

import pandas as pd

from bench.common.colloids import measure_rule_sets, simulate_condition
from bench.common.report import markdown_table, update_section
from bench.common.splits import CALIBRATION_SEEDS, VAL_SEED
from voxpick import locate
from voxpick.metrics import evaluate
from voxpick.ml.tta import CANDIDATE_THRESHOLD, TTA_SCALES, merge_scales

THRESHOLDS = (0.1, 0.15, 0.2, 0.25)


def measure(conds: list[dict], model, name: str) -> list[dict]:
    """Single-scale and merged F1 per volume."""
    rows = []
    for c in conds:
        sim = simulate_condition(c)
        d = 2 * c["radius"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = {
                f: locate(
                    sim.volume,
                    diameter=d * f,
                    method="unet",
                    model=model,
                    threshold=CANDIDATE_THRESHOLD,
                )
                for f in TTA_SCALES
            }
        row = {"set": name, "group": c["group"], "volfrac": c["volfrac"]}
        for f, table in found.items():
            kept = table[table["heatmap"] >= model.threshold]
            row[f"x{f:g}"] = evaluate(sim.truth, kept, diameter=d).f1
        pairs = [(t[["z", "y", "x"]].to_numpy(), t["heatmap"].to_numpy()) for t in found.values()]
        pos, height = merge_scales(pairs, diameter_px=(d, d, d), threshold=0.0)
        merged = pd.DataFrame(pos, columns=["z", "y", "x"]).assign(score=height)
        for t in THRESHOLDS:
            row[f"tta {t:g}"] = evaluate(sim.truth, merged[merged["score"] >= t], diameter=d).f1
        rows.append(row)
        scores = {k: round(v, 3) for k, v in row.items() if k[0] in "xt"}
        print(name, c["group"], c["volfrac"], scores, flush=True)
    return rows


def main() -> None:
    df, cal, val, model, quick = measure_rule_sets(measure)
    cols = [k for k in df.columns if k[0] in "xt"]
    summary = []
    for set_name, sub in df.groupby("set", sort=False):
        per_group = sub.groupby("group", sort=False)[cols].mean()
        summary.append({"volumes": set_name, **per_group.mean().to_dict()})
        for group, values in per_group.iterrows():
            summary.append({"volumes": f"{set_name}: {group}", **values.to_dict()})
    table = pd.DataFrame(summary)
    cal_row = table[table["volumes"] == "calibration"].iloc[0]
    chosen = max(THRESHOLDS, key=lambda t: cal_row[f"tta {t:g}"])
    spread = (df[[f"x{f:g}" for f in TTA_SCALES]].max(axis=1) - df["x1"]).median()
    text = markdown_table(table)
    print(text)
    print(f"best merged threshold on calibration: {chosen} (model threshold {model.threshold})")
    if quick:
        return
    body = (
        "Mean F1 (matching at < r) of the shipped U-Net located at "
        f"{', '.join(f'{f:g}' for f in TTA_SCALES)} times the true diameter (*x0.9* ... at the "
        f"model's threshold {model.threshold:g}), and of the three merged "
        '(`locate(..., method="unet", scales="tta")`: detections within half a diameter clustered, '
        "placed at their score-weighted mean, scored by the mean height over the scales) at "
        f"merged thresholds {', '.join(f'{t:g}' for t in THRESHOLDS)}. Calibration: {len(cal)} "
        f"volumes of the general ranges (seeds {', '.join(map(str, CALIBRATION_SEEDS))}), where "
        f"the threshold is chosen; validation: the {len(val)} threshold-validation volumes (seed "
        f"{VAL_SEED}; groups weighted equally in the set rows). Best merged threshold on "
        f'calibration: **{chosen:g}** (`scales="tta"` uses the model\'s threshold, '
        f"{model.threshold:g}). Median over all volumes of the best single multiplier's gain "
        f"over x1: {spread:.3f} F1.\n\n" + text
    )
    update_section(
        "U-Net scale augmentation", body, command="python -m bench.benchmarks.unet_scales"
    )


if __name__ == "__main__":
    main()
