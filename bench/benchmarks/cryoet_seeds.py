"""Seed variance of the DeepFinder cryo-ET benchmark: every seed alone and every seed ensemble.

Usage (from the repository root; ``python -m bench`` runs both lines)::

    python -m bench.benchmarks.cryoet --init picker_czii_synthetic_v1 \\
        --seed 20261123 20261124 20261125 \\
        --out bench/out/cryoet_seeds --no-write        # trains OUT/seed_S/picker; ~75 min
    python -m bench.benchmarks.cryoet_seeds --out bench/out/cryoet_seeds \\
        --seed 20261123 20261124 20261125              # ~3 min
    python -m bench.benchmarks.cryoet_seeds --quick   # the pickers of
                                                      # `python -m bench.benchmarks.cryoet --quick`

For each non-empty set of the trained pickers (one alone, or several averaged with
``ensemble_pickers``), thresholds are chosen on tomo6 with each rule of ``choose_thresholds``
and the picks are scored on tomo7-8 (never trained or tuned on), as in
``bench/benchmarks/cryoet.py``.
With 54 test particles one particle moves F4 by about 0.02, so the spread over seeds is the
honest error bar of any single figure. Writes docs/benchmarks.md ("Cryo-ET picking, seeds and
ensembles").
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from bench.benchmarks.cryoet import QUICK_OUT, QUICK_SEEDS
from bench.common.deepfinder import VOXEL_A, candidates, class_radii
from bench.common.report import markdown_table, update_section
from bench.common.splits import DEEPFINDER_TEST as TEST
from bench.common.splits import DEEPFINDER_TRAIN as TRAIN
from bench.common.splits import DEEPFINDER_VALIDATION as VALIDATION
from voxpick.cryoet import choose_thresholds, ensemble_pickers, load_picker
from voxpick.cryoet.thresholds import RULES
from voxpick.metrics.czii import CziiParticle, czii_score

TITLE = "Cryo-ET picking, seeds and ensembles"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="holds seed_S/picker per seed")
    parser.add_argument("--seed", type=int, nargs="+")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument(
        "--quick", action="store_true",
        help=f"default --out {QUICK_OUT} --seed {QUICK_SEEDS}, not for docs",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.no_write = True
        args.out = QUICK_OUT if args.out is None else args.out
        args.seed = QUICK_SEEDS if args.seed is None else args.seed
    if args.out is None or args.seed is None:
        parser.error("--out and --seed are required (or --quick)")
    missing = [s for s in args.seed if not (args.out / f"seed_{s}" / "picker.pt").exists()]
    if missing:
        parser.error(
            f"no picker for seeds {missing} under {args.out}: train them first with "
            "python -m bench.benchmarks.cryoet --seed ... --out OUT --no-write (or --quick)"
        )
    radii_vox = class_radii(TRAIN + VALIDATION)
    radii = {k: r * VOXEL_A for k, r in radii_vox.items()}
    particles = [CziiParticle(k, r, 1) for k, r in radii.items()]
    members = {s: load_picker(args.out / f"seed_{s}" / "picker", device="cpu") for s in args.seed}
    turns = {float(m.info["train_config"].get("rotate_degrees", 0.0)) for m in members.values()}
    if len(turns) > 1:
        raise SystemExit(f"the pickers were trained with different rotate_degrees {turns}")
    rotate = turns.pop()
    rows = []
    for n in range(1, len(args.seed) + 1):
        for combo in itertools.combinations(args.seed, n):
            picker = (
                members[combo[0]]
                if n == 1
                else ensemble_pickers([members[s] for s in combo], device="cpu")
            )
            cand_val, truth_val = candidates(picker, VALIDATION)
            cand_test, truth_test = candidates(picker, TEST)
            for rule in RULES:
                chosen = choose_thresholds(cand_val, truth_val, radii_A=radii, rule=rule)
                thr = dict(zip(chosen["particle_type"], chosen["threshold"], strict=True))
                kept = cand_test[cand_test["score"] >= cand_test["particle_type"].map(thr)]
                score, table = czii_score(truth_test, kept, beta=4, particles=particles)
                rows.append({
                    "pickers": n, "seeds": " + ".join(str(s)[-2:] for s in combo),
                    "rule": rule, "threshold": float(np.mean(list(thr.values()))),
                    "F4 tomo7-8": score, "lowest class recall": float(table["recall"].min()),
                    "missed": int(table["fn"].sum()), "false picks": int(table["fp"].sum()),
                })  # fmt: skip
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    means = table.groupby(["pickers", "rule"])["F4 tomo7-8"].agg(["mean", "min", "max"])
    print(means.to_string())
    if args.no_write:
        return
    summary = means.reset_index().rename(
        columns={"mean": "F4 mean", "min": "F4 lowest", "max": "F4 highest"}
    )
    body = (
        "The DeepFinder benchmark of `bench/benchmarks/cryoet.py` (fine-tuned from "
        "picker_czii_synthetic_v1, 6000 steps, tomo1-5 to train, tomo6 to choose thresholds, "
        "tomo7-8 to score"
        + (
            f"; crops also turned by random rotations up to {rotate:g} degrees, each seed trained "
            "with `python -m bench.benchmarks.cryoet --init picker_czii_synthetic_v1 "
            f"--rotate {rotate:g} "
            "--seed S --out OUT/seed_S --no-write`"
            if rotate
            else ""
        )
        + ") for "
        f"each training seed ({', '.join(map(str, args.seed))}; shown by their last two digits) "
        "alone and for every seed ensemble, with each threshold rule. 54 test particles: one "
        "particle moves F4 by about 0.02.\n\n"
        + markdown_table(table)
        + "\n\nBy ensemble size and rule:\n\n"
        + markdown_table(summary)
    )
    seeds = " ".join(map(str, args.seed))
    command = f"python -m bench.benchmarks.cryoet_seeds --out OUT --seed {seeds}"
    update_section(TITLE, body, command=command)


if __name__ == "__main__":
    main()
