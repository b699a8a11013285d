"""Seconds to simulate one 128^3 volume at volume fraction 0.55 (medians of repeats).

Usage: python -m bench.benchmarks.simulate_speed [--repeats 5] [--quick]
Prints a markdown table and writes it into docs/benchmarks.md (section "Simulation speed");
``--quick`` times one 64^3 volume per case and writes nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from bench.common.report import update_section
from voxpick.simulate import simulate_volume
from voxpick.simulate.packing import pack_spheres

CASES = [
    {"radius": 6.0, "particle_size": 0.25, "snr": 3.0, "cnr": 3.0},  # challenge test condition
    {"radius": 4.0, "particle_size": 0.5, "snr": 5.0, "cnr": 3.0},
    {"radius": 3.0, "particle_size": 1.0, "snr": 10.0, "cnr": 5.0, "polydispersity": 0.05},
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="64^3, one repeat, not for docs")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.size = 1, 64
    simulate_volume(32, radius=3, rng=0)  # compile / load the numba cache outside the timing
    rows = []
    for case in CASES:
        times, pack_times = [], []
        for rep in range(args.repeats):
            t0 = time.perf_counter()
            sim = simulate_volume(args.size, volfrac=0.55, rng=rep, **case)
            times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            pack_spheres(args.size + 20, radius=case["radius"], volfrac=0.55, rng=rep)
            pack_times.append(time.perf_counter() - t0)
        rows.append(
            f"| {case['radius']:g} | {case['particle_size']:g} | {case.get('polydispersity', 0):g}"
            f" | {sim.metadata['n_particles']} | {statistics.median(pack_times):.2f}"
            f" | {statistics.median(times):.2f} | {max(times):.2f} |"
        )
    table = "\n".join(
        [
            f"Volume {args.size}^3, volfrac 0.55, {args.repeats} repeats, "
            f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}).",
            "",
            "| r (px) | particle_size (um) | polydispersity | particles in view "
            "| packing alone, median s | whole volume, median s | worst s |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    if args.quick:
        return
    command = f"python -m bench.benchmarks.simulate_speed --repeats {args.repeats}"
    update_section("Simulation speed", table, command=command)


if __name__ == "__main__":
    main()
