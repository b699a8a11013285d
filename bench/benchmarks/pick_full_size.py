"""Pick a full-size CZII-like tomogram (184 x 630 x 630) with the shipped picker on the CPU.

Usage (from the repository root)::

    python -m bench.benchmarks.pick_full_size                  # one CZII layout, ~5 min, 2 cores
    python -m bench.benchmarks.pick_full_size --experiment TS_6_4
    python -m bench.benchmarks.pick_full_size --quick          # a 64 x 192 x 192 tomogram with
                                                               # random placement; writes nothing

The tomogram is simulated (:func:`voxpick.simulate.simulate_tomogram`) with the particle
positions and types of one real CZII training tomogram's expert picks
(../shared/data/cryoet-czii-picks, read in place; random placement at CZII densities when it is
absent), written as an MRC file, and picked through the same path as ``voxpick pick
TOMOGRAM.mrc`` (the MRC reader, :func:`voxpick.cryoet.pick` with the shipped
picker and its thresholds, the CZII CSV writer). Reports wall-clock seconds, peak memory and the
CZII score against the exact truth. The conditions (SNR 0.5, defocus 3 um, tilt +-60 degrees)
are the simulator's defaults, inside the picker's training ranges; the layout was never used
for training or threshold choice.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common.czii_layouts import SHAPE, layout_tomogram, picks_available, score_submission
from bench.common.paths import ROOT
from bench.common.report import markdown_table, update_section
from bench.common.splits import FULL_SIZE_TOMOGRAM_SEED
from bench.common.synthetic_tomograms import VOXEL_A
from voxpick.cryoet import DEFAULT_PICKER, load_picker, pick
from voxpick.cryoet.picking import PICK_TILE
from voxpick.io import picks_to_angstrom, read_mrc, read_submission, write_mrc, write_submission
from voxpick.nn.runtime import cpu_runtime
from voxpick.simulate import simulate_tomogram

QUICK_SHAPE = (64, 192, 192)
SEED = FULL_SIZE_TOMOGRAM_SEED


def pick_only(mrc: Path, csv: Path, *, model: str | None, tile: int) -> None:
    """Child process: read, pick, write, as ``voxpick pick TOMOGRAM.mrc`` does; print the time."""
    t1 = time.perf_counter()
    volume, voxel_size = read_mrc(mrc)
    picker = load_picker(model, device="cpu")
    found = pick(volume, model=picker, voxel_size=voxel_size, tile=tile)
    picks = picks_to_angstrom(found, voxel_size=voxel_size).assign(experiment="tomo")
    write_submission(csv, picks)
    print(f"RESULT {time.perf_counter() - t1:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", default="TS_5_4")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--model", default=None, help="picker (default: the shipped one)")
    parser.add_argument("--quick", action="store_true", help=f"a {QUICK_SHAPE} tomogram, no docs")
    parser.add_argument("--tile", type=int, default=PICK_TILE, help="inference block edge")
    parser.add_argument("--pick-only", nargs=2, metavar=("MRC", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pick_only:
        pick_only(
            Path(args.pick_only[0]), Path(args.pick_only[1]), model=args.model, tile=args.tile
        )
        return
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    if args.quick:
        args.no_write = True
        vol, truth = simulate_tomogram(QUICK_SHAPE, voxel_size=VOXEL_A, rng=SEED)
        source = "random placement at CZII densities, --quick"
    elif picks_available():
        vol, truth = layout_tomogram(args.experiment, seed=SEED)  # cached after the first run
        source = f"positions of the CZII expert picks of {args.experiment}"
    else:
        vol, truth = simulate_tomogram(SHAPE, voxel_size=VOXEL_A, rng=SEED)
        source = "random placement at CZII densities"
    sim_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        mrc, csv = Path(tmp) / "tomo.mrc", Path(tmp) / "picks.csv"
        write_mrc(mrc, vol, voxel_size=VOXEL_A)
        del vol
        cmd = [sys.executable, "-m", "bench.benchmarks.pick_full_size", "--tile", str(args.tile)]
        cmd += ["--model", args.model] if args.model else []
        cmd += ["--pick-only", str(mrc), str(csv)]
        proc = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
        line = next(s for s in proc.stdout.splitlines() if s.startswith("RESULT "))
        pick_s = float(line.split()[1])
        peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        submission = read_submission(csv)
    score, table = score_submission(submission, truth, experiment="tomo")
    print(table.to_string(index=False))
    print(
        f"{QUICK_SHAPE if args.quick else SHAPE} ({source}): "
        f"simulated (or read from the cache) in {sim_s:.0f} s; "
        f"read + pick + write in {pick_s:.0f} s; "
        f"peak RSS {peak_gib:.2f} GiB; CZII score {score:.3f}"
    )
    if args.no_write:
        return
    cols = ["particle_type", "weight", "n_truth", "n_pred", "tp", "fp", "fn",
            "precision", "recall", "fbeta"]  # fmt: skip
    body = (
        f"One simulated {SHAPE[0]} x {SHAPE[1]} x {SHAPE[2]} tomogram at {VOXEL_A} A ({source}; "
        f"simulator defaults, seed {SEED}), picked with `{args.model or DEFAULT_PICKER}` through "
        "the `voxpick pick TOMOGRAM.mrc` path (MRC in, CZII CSV out) on 2 CPU cores (load "
        f"average {load:.1f} when it started), in a child "
        f"process whose peak RSS is given (`tile={args.tile}`; the network in "
        f"{cpu_runtime()}).\n\n"
        f"**Read + pick + write: {pick_s:.0f} s; peak RSS {peak_gib:.2f} GiB; CZII score "
        f"(competition weights, F-beta 4) {score:.3f}.** Synthetic data: not a figure for "
        "real tomograms.\n\n" + markdown_table(table[cols])
    )
    update_section(
        "Cryo-ET full-size tomogram", body, command="python -m bench.benchmarks.pick_full_size"
    )


if __name__ == "__main__":
    main()
