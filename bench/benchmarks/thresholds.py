"""How well each threshold rule of ``choose_thresholds`` carries over from small validation sets.

Usage (from the repository root)::

    python -m bench.benchmarks.thresholds            # ~5 min on 2 cores
    python -m bench.benchmarks.thresholds --quick    # 2 tomograms, no cache; writes nothing

Forty fresh synthetic tomograms (seeds 5000-5039, ``THRESHOLD_STUDY`` of
:mod:`bench.common.splits`, never used for training or for any other choice; 128^3, the imaging
conditions of ``bench/recipes/train_picker_default.py``) are picked with the
shipped ``picker_czii_synthetic_v1`` down to score 0. They are cut into consecutive validation
sets of 1, 2, 4 or 8 tomograms (about 25, 50, 100, 200 particles); on each, thresholds are
chosen with every rule, and the picks they keep on the *other* tomograms are scored with the
CZII F-beta 4 (every class weight 1). The table gives the mean, the worst and the spread of
those held-out scores over the validation sets. Writes docs/benchmarks.md ("Threshold rules").
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from bench.common.paths import OUT as BENCH_OUT
from bench.common.report import markdown_table, update_section
from bench.common.splits import THRESHOLD_STUDY
from bench.common.synthetic_tomograms import classes, run_picks
from voxpick.cryoet import choose_thresholds, load_picker
from voxpick.cryoet.thresholds import RULES
from voxpick.metrics.czii import CziiParticle, czii_score

OUT = BENCH_OUT / "thresholds"
SEEDS = THRESHOLD_STUDY
SIZES = (1, 2, 4, 8)
#: ``--quick``: the first two tomograms, validation sets of one (not cached, not for docs)
QUICK_SEEDS, QUICK_SIZES = SEEDS[:2], (1,)


def candidates(seeds: range = SEEDS, *, cache: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every candidate and the truth of the tomograms ``seeds`` (Angstrom), cached in OUT."""
    cand_csv, truth_csv = OUT / "candidates.csv", OUT / "truth.csv"
    if cache and cand_csv.exists() and truth_csv.exists():
        return pd.read_csv(cand_csv), pd.read_csv(truth_csv)
    picker = load_picker("picker_czii_synthetic_v1", device="cpu")
    cand, tru = run_picks(picker, seeds, 0.0)
    if not cache:
        return cand, tru
    OUT.mkdir(parents=True, exist_ok=True)
    cand.to_csv(cand_csv, index=False)
    tru.to_csv(truth_csv, index=False)
    return cand, tru


def held_out_scores(
    cand: pd.DataFrame, truth: pd.DataFrame, size: int, seeds: range = SEEDS
) -> dict[str, list[float]]:
    """F4 on the other tomograms, per rule, for each validation set of ``size`` tomograms."""
    radii = {c.name: c.radius_A for c in classes()}
    parts = [CziiParticle(k, r, 1) for k, r in radii.items()]
    exps = [f"s{s}" for s in seeds]
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 tomograms, no cache, no docs")
    args = parser.parse_args()
    seeds, sizes = (QUICK_SEEDS, QUICK_SIZES) if args.quick else (SEEDS, SIZES)
    t0 = time.perf_counter()
    cand, truth = candidates(seeds, cache=not args.quick)
    per_tomo = truth.groupby("experiment").size()
    rows = []
    for size in sizes:
        scores = held_out_scores(cand, truth, size, seeds)
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
    if args.quick:
        return
    body = (
        "Forty fresh synthetic tomograms (seeds 5000-5039, 128^3, the shipped picker's imaging "
        "conditions), picked with `picker_czii_synthetic_v1` down to score 0 and cut into "
        "validation sets of 1-8 tomograms. On each set `choose_thresholds` chooses with each "
        "rule; the picks kept on the other tomograms are scored (CZII F-beta 4, weights 1). "
        "`calibrated`: keep a candidate when its calibrated hit probability (Platt scaling "
        "pulled towards the identity) exceeds F*/(1 + beta^2); `argmax`: the best cut on the "
        "validation data itself.\n\n" + markdown_table(table)
    )
    update_section("Threshold rules", body, command="python -m bench.benchmarks.thresholds")


if __name__ == "__main__":
    main()
