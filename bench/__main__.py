"""Run every benchmark of ``bench/benchmarks`` in docs order: ``python -m bench [--quick]``.

Each benchmark runs as ``python -m bench.benchmarks.NAME ARGS`` in a fresh process from the
repository root, with the arguments that reproduce its section of docs/benchmarks.md, or with
``--quick`` (a smoke run of each, well under a minute apiece on 2 cores, that writes no docs).
The full run takes hours on 2 cores: it trains the DeepFinder pickers (about 2 hours in all).

Usage::

    python -m bench                       # every benchmark; rewrites docs/benchmarks.md
    python -m bench --quick               # every benchmark's smoke run
    python -m bench --only accuracy speed # some of them (names as in --list)
    python -m bench --list                # the plan, without running it
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import NamedTuple

from bench.common.paths import ROOT
from bench.common.splits import DEEPFINDER_SEED_STUDY


class Step(NamedTuple):
    """One command of the plan: ``python -m bench.benchmarks.MODULE`` with its arguments."""

    name: str
    module: str
    full: tuple[str, ...]
    #: arguments of the smoke run; None: the step is skipped with ``--quick``
    quick: tuple[str, ...] | None = ("--quick",)
    #: prefix of the full run's command line (e.g. ``nice -n 19``)
    prefix: tuple[str, ...] = ()


SEED_STUDY = tuple(str(s) for s in DEEPFINDER_SEED_STUDY)
SEED_STUDY_OUT = "bench/out/cryoet_seeds"

#: The benchmarks in the order of their sections in docs/benchmarks.md.
PLAN: tuple[Step, ...] = (
    Step("simulate_speed", "simulate_speed", ("--repeats", "3")),
    Step(
        "big_volume",
        "big_volume",
        ("--size", "1024", "--method", "classical", "auto", "--cluster"),
        prefix=("nice", "-n", "19"),
    ),
    Step("accuracy", "accuracy", ()),
    Step("speed", "speed", ("--repeats", "5")),
    Step("locate_stages", "locate_stages", ("--repeats", "3")),
    Step("real_data", "real_data", ()),
    # --quick trains two pickers of a few steps, which cryoet_seeds --quick then reads
    Step("cryoet", "cryoet", ("--init", "picker_czii_synthetic_v1", "--refit")),
    Step("pick_full_size", "pick_full_size", ()),
    Step("cryoet_layouts", "cryoet_layouts", ()),
    Step("psf_anisotropy", "psf_anisotropy", ()),
    Step("thresholds", "thresholds", ()),
    Step(
        "cryoet_seeds (training)",
        "cryoet",
        (
            *("--init", "picker_czii_synthetic_v1", "--seed", *SEED_STUDY),
            *("--out", SEED_STUDY_OUT, "--no-write"),
        ),
        quick=None,
    ),
    Step("cryoet_seeds", "cryoet_seeds", ("--out", SEED_STUDY_OUT, "--seed", *SEED_STUDY)),
    # reads the tomo1-5 picker of the cryoet step (--quick: that of cryoet --quick)
    Step("cryoet_classes", "cryoet_classes", ()),
    # trains its two DeepFinder networks (about an hour on 2 shared cores), then compares
    Step("cryoet_compare", "cryoet_compare", ("--train",)),
    Step("diameter_check", "diameter_check", ()),
    Step("polarity", "polarity", ()),
    Step("unet_separation", "unet_separation", ()),
    Step("unet_faces", "unet_faces", ()),
    Step("hardest_condition", "hardest_condition", ()),
    Step("auto_method", "auto_method", ()),
    Step("auto_noise", "auto_noise", ()),
    Step("unet_scales", "unet_scales", ()),
    Step("tracking", "tracking", ()),
    Step("refine", "refine", ()),
    Step("refine_real", "refine_real", ()),
    Step("size_limit", "size_limit", ()),
    # on a machine without CUDA it says so and measures nothing
    Step("gpu", "gpu", ()),
    # the fault-injection suite (pytest tests/faults -m faults); writes docs/reliability.md
    Step("reliability", "reliability", ()),
)


def command(step: Step, quick: bool) -> list[str] | None:
    """The command line of ``step`` (None when it has no quick run)."""
    args = step.quick if quick else step.full
    if args is None:
        return None
    prefix = () if quick else step.prefix
    return [*prefix, sys.executable, "-m", f"bench.benchmarks.{step.module}", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke runs only; no docs written")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these steps")
    parser.add_argument("--list", action="store_true", help="print the plan and exit")
    parser.add_argument("--keep-going", action="store_true", help="do not stop at a failure")
    args = parser.parse_args()
    names = [s.name for s in PLAN]
    unknown = sorted(set(args.only or ()) - set(names))
    if unknown:
        parser.error(f"unknown step(s) {unknown}; known: {names}")
    steps = [s for s in PLAN if not args.only or s.name in args.only]
    failed, times = [], []
    for step in steps:
        cmd = command(step, args.quick)
        if cmd is None:
            continue
        line = " ".join(c if c != sys.executable else "python" for c in cmd)
        print(f"== {step.name}: {line}", flush=True)
        if args.list:
            continue
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, cwd=ROOT, check=False).returncode
        times.append((step.name, time.perf_counter() - t0, rc))
        if rc:
            failed.append(step.name)
            print(f"== {step.name} failed (exit {rc})", flush=True)
            if not args.keep_going:
                break
    for name, seconds, rc in times:
        print(f"{name:>24s} {seconds:8.1f} s{'  FAILED' if rc else ''}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
