"""How often ``check_diameter`` is right on simulated volumes whose true diameter is known.

Usage (from the repository root)::

    python -m bench.benchmarks.diameter_check [--factors 1.0 1.3 1.6] [--quick]

The volumes are the model card's test set (``bench/recipes/train_default.py``, seed 5150: 24
volumes of the general ranges and 10 at the challenge's hardest condition), never used to set
the check's constants (those were set beforehand and looked at on the validation seed 4242
only). Each volume is checked with its true diameter and with a diameter too large by each
factor, with both voxpick methods. A *too large* verdict at factor 1 is a false alarm; at a
factor above 1 it is a hit when the suggested diameter is close to the truth. Writes the section
"Diameter check" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from bench.common.colloids import conditions, simulate_condition
from bench.common.report import markdown_table, update_section
from bench.common.splits import TEST_SEED
from voxpick.analysis import check_diameter

VERDICTS = ("consistent", "too large", "inconsistent", "too few")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--factors", nargs="+", type=float, default=[1.0, 1.3, 1.6])
    parser.add_argument("--quick", action="store_true", help="4 volumes, not for docs")
    args = parser.parse_args()
    conds = conditions(TEST_SEED, 2 if args.quick else 24, 2 if args.quick else 10)
    rows = []
    start = time.perf_counter()
    for i, c in enumerate(conds):
        sim = simulate_condition(c)
        d = 2 * c["radius"]
        for method in ("classical", "unet"):
            for factor in args.factors:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = check_diameter(sim.volume, diameter=factor * d, method=method)
                ratio = float(res.suggested) / d if res.verdict == "too large" else np.nan
                rows.append({"group": c["group"], "method": method, "factor": factor,
                             "verdict": res.verdict, "suggested_over_true": ratio})  # fmt: skip
        print(f"[{i + 1}/{len(conds)}] {time.perf_counter() - start:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    table = []
    for (method, group, factor), part in df.groupby(["method", "group", "factor"], sort=False):
        counts = part["verdict"].value_counts()
        ratios = part["suggested_over_true"].dropna()
        table.append({
            "method": method, "volumes": group, "told / true diameter": factor, "n": len(part),
            **{v: int(counts.get(v, 0)) for v in VERDICTS},
            "suggested / true (median)": float(ratios.median()) if len(ratios) else np.nan,
            "suggested / true (range)": (f"{ratios.min():.2f}-{ratios.max():.2f}"
                                         if len(ratios) else ""),
        })  # fmt: skip
    out = pd.DataFrame(table)
    body = markdown_table(out.astype(object).where(out.notna(), ""))
    print(body)
    if args.quick:
        return
    note = (
        f"{len(conds)} simulated volumes (the model card's test set, seed {TEST_SEED}: 24 of the "
        "general ranges, 10 at volume fraction 0.55, SNR = CNR = 3, 0.21-0.30 um particles), "
        "each checked by `voxpick.analysis.check_diameter` with its true diameter and with one "
        "too large, for both methods. At factor 1, *too large* would be a false alarm; "
        "*inconsistent* means the detector itself finds impossible neighbours (it over-detects). "
        "Above 1, *too large* is the right answer, and the suggested diameter should be near "
        "the true one."
    )
    update_section(
        "Diameter check", note + "\n\n" + body, command="python -m bench.benchmarks.diameter_check"
    )


if __name__ == "__main__":
    main()
