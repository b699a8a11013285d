"""How often the polarity test behind the ``--invert`` suggestion is right.

Usage (from the repository root)::

    python -m bench.benchmarks.polarity [--quick]

``voxpick.detect.polarity.particle_polarity`` answers bright, dark or unclear; the command line
suggests ``--invert`` only on *dark*. Its two cuts (band-pass skewness -0.4 and +0.4) were set by
looking at the validation seed's volumes (``VAL_SEED``, bright and inverted) only; this reports
the test seed (``TEST_SEED``: 24 volumes of the general ranges and 10 at the challenge's hardest
condition), each simulated bright and inverted, and the real volumes with the polarity their
data README gives. A *dark* answer on bright particles is the costly error (it would suggest
inverting a correct run); *unclear* costs nothing but a missed suggestion. Writes the section
"Particle polarity" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from bench.common.colloids import conditions, simulate_condition
from bench.common.paths import DATA
from bench.common.real_volumes import VOLUMES, load
from bench.common.report import markdown_table, update_section
from bench.common.splits import TEST_SEED
from voxpick.detect.polarity import particle_polarity

VERDICTS = ("bright", "dark", "unclear")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="4 volumes, not for docs")
    args = parser.parse_args()
    conds = conditions(TEST_SEED, 2 if args.quick else 24, 2 if args.quick else 10)
    rows, seconds = [], []
    start = time.perf_counter()
    for i, c in enumerate(conds):
        d = 2 * c["radius"]
        for invert in (False, True):
            sim = simulate_condition(c, invert=invert)
            t0 = time.perf_counter()
            found = particle_polarity(sim.volume, diameter=d)
            seconds.append(time.perf_counter() - t0)
            rows.append({"volumes": c["group"], "particles": "dark" if invert else "bright",
                         "verdict": found.verdict})  # fmt: skip
        print(f"[{i + 1}/{len(conds)}] {time.perf_counter() - start:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    table = []
    for (group, truth), part in df.groupby(["volumes", "particles"], sort=False):
        counts = part["verdict"].value_counts()
        table.append({"volumes": group, "particles": truth, "n": len(part),
                      **{v: int(counts.get(v, 0)) for v in VERDICTS}})  # fmt: skip
    sim_body = markdown_table(pd.DataFrame(table))
    real = []
    if DATA.is_dir():
        for name, (rel, shape, diameter, dark, _) in VOLUMES.items():
            found = particle_polarity(load(rel, shape), diameter=diameter)
            real.append({"volume": name, "particles": "dark" if dark else "bright",
                         "diameter (z, y, x) px": str(tuple(diameter)), "verdict": found.verdict,
                         "skewness": round(found.skewness, 2)})  # fmt: skip
    real_body = markdown_table(pd.DataFrame(real)) if real else "(../shared/data is absent)"
    median_ms = 1000 * float(pd.Series(seconds).median())
    print(sim_body, real_body, f"median {median_ms:.0f} ms per volume", sep="\n\n")
    if args.quick:
        return
    note = (
        f"{len(conds)} simulated volumes (seed {TEST_SEED}), each simulated with bright and with "
        "dark particles, and the real volumes (diameters as in the real-volume section). "
        "`particle_polarity` answers on a central crop of at least 96 voxels, 8 diameters; "
        f"median {median_ms:.0f} ms per 96^3-128^3 volume on this machine. The command line "
        "suggests `--invert` only on *dark*, and never inverts by itself."
    )
    update_section(
        "Particle polarity",
        note + "\n\n" + sim_body + "\n\nReal volumes:\n\n" + real_body,
        command="python -m bench.benchmarks.polarity",
    )


if __name__ == "__main__":
    main()
