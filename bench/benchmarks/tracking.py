"""Tracking Brownian hard spheres: link accuracy and the diffusion coefficient recovered.

Usage (from the repository root)::

    python -m bench.benchmarks.tracking [--volfracs 0.1 0.3 0.45] [--seeds 3] [--quick]

Each series is simulated by :func:`voxpick.simulate.simulate_brownian` (64^3 voxels, 30
frames, radius 4 voxels, free diffusion 0.5 voxel²/frame, the simulator's default imaging:
SNR 10, CNR 5), at the seeds ``TRACKING_SEEDS`` of ``bench/common/splits.py`` (fixed before
any result; never used to choose anything). Three pipelines locate every frame and link with
``trackpy.link`` at the same search range (half a diameter, 4 voxels, the ``voxpick track``
default) and memory 0:

* ``voxpick auto``: :func:`voxpick.batch` (``method="auto"``) + :func:`voxpick.link`;
* ``voxpick classical``: the same with ``method="classical"``;
* ``trackpy tuned``: ``trackpy.locate`` per frame as ``bench/common/peers.py`` runs it (odd
  diameters, separation 0.8 diameter) + the same ``voxpick.link``.

Scores (:func:`voxpick.metrics.link_accuracy`, matching within half a diameter): *accuracy*,
the share of true links with both ends detected that stay on one track; *precision*, the
share of track links between matched detections that join one true particle; *coverage*,
the share of true links with both ends detected. *D / D_true*: the diffusion coefficient of
the linked tracks over that of the true trajectories (:func:`voxpick.analysis.
diffusion_coefficient`, MSD slope over lags 1-10; also over lags 1-5). Writes the section
"Tracking" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import pandas as pd

from bench.common.peers import trackpy_tuned
from bench.common.report import markdown_table, update_section
from bench.common.splits import TRACKING_SEEDS
from voxpick import batch, link
from voxpick.analysis import diffusion_coefficient
from voxpick.metrics import link_accuracy
from voxpick.simulate import simulate_brownian

RADIUS = 4.0
DIFFUSION = 0.5
SEARCH_RANGE = RADIUS  # half a diameter


def trackpy_batch(frames: np.ndarray, diameter: float) -> pd.DataFrame:
    """``trackpy.locate`` on every frame, tuned as the accuracy benchmark runs it."""
    tables = []
    for t, frame in enumerate(frames):
        found = trackpy_tuned(frame, (diameter,) * 3, dark=False)
        tables.append(found[["z", "y", "x"]].assign(frame=t))
    return pd.concat(tables, ignore_index=True)


PIPELINES = {
    "voxpick auto": lambda frames, d: batch(frames, diameter=d, method="auto"),
    "voxpick classical": lambda frames, d: batch(frames, diameter=d, method="classical"),
    "trackpy tuned": trackpy_batch,
}


def measure(volfrac: float, seed: int, shape: int, n_frames: int) -> list[dict]:
    """Every pipeline on one simulated series."""
    sim = simulate_brownian(
        shape, n_frames=n_frames, radius=RADIUS, volfrac=volfrac, diffusion=DIFFUSION, rng=seed
    )
    d = 2 * RADIUS
    true_d = diffusion_coefficient(sim.truth)
    true_d5 = diffusion_coefficient(sim.truth, max_lag=5)
    rows = []
    for name, locate_all in PIPELINES.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = locate_all(sim.frames, d)
        per_frame = (time.perf_counter() - start) / n_frames
        tracks = link(found, search_range=SEARCH_RANGE)
        score = link_accuracy(sim.truth, tracks, max_distance=RADIUS)
        rows.append({
            "volfrac": volfrac, "seed": seed, "pipeline": name,
            "accuracy": score.accuracy, "precision": score.precision,
            "coverage": score.coverage, "true links": score.n_true_links,
            "D / D_true": diffusion_coefficient(tracks) / true_d,
            "D / D_true (lags 1-5)": diffusion_coefficient(tracks, max_lag=5) / true_d5,
            "D_true / D_free": true_d / DIFFUSION, "s per frame": per_frame,
        })  # fmt: skip
        print(
            f"volfrac {volfrac} seed {seed} {name}: accuracy {score.accuracy:.4f} precision "
            f"{score.precision:.4f} coverage {score.coverage:.3f} D/D_true "
            f"{rows[-1]['D / D_true']:.3f} ({per_frame:.2f} s/frame)",
            flush=True,
        )
    return rows


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Per volume fraction and pipeline: worst accuracy and precision, D ratio mean and range."""
    out = []
    for (volfrac, name), part in df.groupby(["volfrac", "pipeline"], sort=False):
        ratio = part["D / D_true"]
        out.append({
            "volume fraction": volfrac, "pipeline": name, "series": len(part),
            "link accuracy (worst)": float(part["accuracy"].min()),
            "link precision (worst)": float(part["precision"].min()),
            "coverage (mean)": float(part["coverage"].mean()),
            "D / D_true, lags 1-10 (mean)": float(ratio.mean()),
            "D / D_true, lags 1-10 (range)": f"{ratio.min():.3f}-{ratio.max():.3f}",
            "D / D_true, lags 1-5 (mean)": float(part["D / D_true (lags 1-5)"].mean()),
            "D_true / D_free": float(part["D_true / D_free"].mean()),
            "s per frame (median)": float(part["s per frame"].median()),
        })  # fmt: skip
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volfracs", nargs="+", type=float, default=[0.1, 0.3, 0.45])
    parser.add_argument("--seeds", type=int, default=len(TRACKING_SEEDS))
    parser.add_argument("--quick", action="store_true", help="one small series, no docs")
    args = parser.parse_args()
    shape, n_frames = (32, 6) if args.quick else (64, 30)
    volfracs = [0.3] if args.quick else args.volfracs
    seeds = TRACKING_SEEDS[: 1 if args.quick else args.seeds]
    rows = [r for v in volfracs for s in seeds for r in measure(v, s, shape, n_frames)]
    table = summarise(pd.DataFrame(rows))
    body = markdown_table(table)
    print(body)
    if args.quick:
        return
    note = (
        f"{len(seeds)} simulated series per volume fraction ({shape}^3 voxels, {n_frames} "
        f"frames, radius {RADIUS:g} voxels, free diffusion {DIFFUSION} voxel²/frame, SNR 10, "
        f"CNR 5; seeds {', '.join(map(str, seeds))}), located by each pipeline and linked by "
        f"trackpy.link at search range {SEARCH_RANGE:g} voxels (half a diameter), memory 0. "
        "*Link accuracy*: correct links over true links whose two ends were detected; "
        "*precision*: track links joining one true particle over track links between matched "
        "detections; *coverage*: true links with both ends detected (docs/tracking.md). "
        "*D / D_true*: MSD-slope diffusion coefficient of the linked tracks over that of the "
        "true trajectories with the same fit; *D_true / D_free*: how much collisions slow the "
        "particles. `method='auto'` keeps the classical detections below a U-Net volume "
        "fraction of 0.35 (here at 0.1 and 0.3, where it matches the classical rows and only "
        "costs the U-Net pass). *s per frame*: locating only, median over the series, "
        f"{platform.machine()}, 2 cores shared with other jobs (times vary by 2-4x with the "
        "load), CPU only."
    )
    update_section("Tracking", note + "\n\n" + body, command="python -m bench.benchmarks.tracking")


if __name__ == "__main__":
    main()
