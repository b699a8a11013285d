"""How well each threshold rule of ``choose_thresholds`` carries over from small validation sets.

Usage::

    python bench/thresholds.py            # ~5 min on 2 cores

Forty fresh synthetic tomograms (seeds 5000-5039, never used for training or for any other
choice; 128^3, the imaging conditions of ``bench/train_picker_default.py``) are picked with the
shipped ``picker_czii_synthetic_v1`` down to score 0. They are cut into consecutive validation
sets of 1, 2, 4 or 8 tomograms (about 25, 50, 100, 200 particles); on each, thresholds are
chosen with every rule, and the picks they keep on the *other* tomograms are scored with the
CZII F-beta 4 (every class weight 1). The table gives the mean, the worst and the spread of
those held-out scores over the validation sets. Writes docs/benchmarks.md ("Threshold rules").
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _report import markdown_table, update_section
from train_picker_default import classes, run_picks
from voxpick.metrics.czii import CziiParticle, czii_score
from voxpick.ml.picker_store import load_picker
from voxpick.ml.picker_thresholds import RULES, choose_thresholds

OUT = Path(__file__).resolve().parent / "out" / "thresholds"
SEEDS = range(5000, 5040)
SIZES = (1, 2, 4, 8)


def candidates() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every candidate and the truth of the forty tomograms (Angstrom), cached in OUT."""
    cand_csv, truth_csv = OUT / "candidates.csv", OUT / "truth.csv"
    if cand_csv.exists() and truth_csv.exists():
        return pd.read_csv(cand_csv), pd.read_csv(truth_csv)
    picker = load_picker("picker_czii_synthetic_v1", device="cpu")
    cand, tru = run_picks(picker, SEEDS, 0.0)
    OUT.mkdir(parents=True, exist_ok=True)
    cand.to_csv(cand_csv, index=False)
    tru.to_csv(truth_csv, index=False)
    return cand, tru


def held_out_scores(cand: pd.DataFrame, truth: pd.DataFrame, size: int) -> dict[str, list[float]]:
    """F4 on the other tomograms, per rule, for each validation set of ``size`` tomograms."""
    radii = {c.name: c.radius_A for c in classes()}
    parts = [CziiParticle(k, r, 1) for k, r in radii.items()]
    exps = [f"s{s}" for s in SEEDS]
    out: dict[str, list[float]] = {r: [] for r in RULES}
    for i in range(0, len(exps), size):
        val = exps[i : i + size]
        in_val = cand["experiment"].isin(val)
        for rule in RULES:
            table = choose_thresholds(
                cand[in_val], truth[truth["experiment"].isin(val)], radii_A=radii, rule=rule
            )
            thr = dict(zip(table["particle_type"], table["threshold"], strict=True))
            test = cand[~in_val]
            kept = test[test["score"] >= test["particle_type"].map(thr)]
            score, _ = czii_score(
                truth[~truth["experiment"].isin(val)], kept, beta=4, particles=parts
            )
            out[rule].append(score)
    return out


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    t0 = time.perf_counter()
    cand, truth = candidates()
    per_tomo = truth.groupby("experiment").size()
    rows = []
    for size in SIZES:
        scores = held_out_scores(cand, truth, size)
        for rule, vals in scores.items():
            v = np.asarray(vals)
            rows.append({
                "validation tomograms": size,
                "particles (median)": int(np.median(per_tomo.to_numpy()) * size),
                "rule": rule, "sets": len(v), "F4 mean": float(v.mean()),
                "F4 worst": float(v.min()), "F4 sd": float(v.std()),
            })  # fmt: skip
        print(pd.DataFrame(rows).tail(len(RULES)).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    print(f"{time.perf_counter() - t0:.0f} s")
    body = (
        "Forty fresh synthetic tomograms (seeds 5000-5039, 128^3, the shipped picker's imaging "
        "conditions), picked with `picker_czii_synthetic_v1` down to score 0 and cut into "
        "validation sets of 1-8 tomograms. On each set `choose_thresholds` chooses with each "
        "rule; the picks kept on the other tomograms are scored (CZII F-beta 4, weights 1). "
        "`calibrated`: keep a candidate when its calibrated hit probability (Platt scaling "
        "pulled towards the identity) exceeds F*/(1 + beta^2); `argmax`: the best cut on the "
        "validation data itself.\n\n" + markdown_table(table)
    )
    update_section("Threshold rules", body, command="python bench/thresholds.py")


if __name__ == "__main__":
    main()
