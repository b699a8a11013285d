"""Refine: localisation error before and after, against tuned trackpy and the Cramer-Rao bound.

Usage (from the repository root)::

    python -m bench.benchmarks.refine                 # 12 volumes of 96^3 and the timing volume
    python -m bench.benchmarks.refine --quick         # 2 volumes of 64^3; writes nothing
    python -m bench.benchmarks.refine --volumes 6 --size 80

Held-out volumes of voxpick's simulator (seed ``REFINE_SEED`` of ``bench/common/splits.py``,
never used for any choice): radius 3-10 px, SNR 2-10 (CNR 1-SNR), volume fraction 0.1-0.58,
polydispersity 0-10%, particle_size 0.1-1 um (challenge convention). Each is located by the
default (``voxpick.locate``, method auto), refined (``voxpick.refine``), and located by tuned
trackpy (``bench/common/peers.py``). Per axis: RMS error of the truth particles matched one to
one within a radius, more than a diameter from every face; the Cramer-Rao bound (CRB) of the
simulator's image model at the true parameters (``bench/common/refine_eval.py``); the reported
``sigma`` against the measured error; pixel locking (largest over smallest count of a
10-bin histogram of the fractional positions, 1 = flat; ``docs/img/refine_locking.png``);
precision and recall away from the faces (a radius). Then one 128^3 volume at volume fraction
0.55, SNR = CNR = 3, r 6, particle_size 0.25 um is timed (locate, refine; wall and CPU seconds
on this machine). Writes the section "Refine" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
import pandas as pd

from bench.common.paths import DOCS, OUT
from bench.common.peers import trackpy_tuned
from bench.common.refine_eval import cramer_rao, locking, matched_errors, rms
from bench.common.report import markdown_table, update_section
from bench.common.splits import REFINE_SEED, REFINE_TIMING_SEED

METHODS = ("default", "default+refine", "trackpy tuned")


def conditions(n: int, seed: int) -> list[dict[str, Any]]:
    """Seeded simulation parameters spanning the benchmark ranges."""
    gen = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        snr = float(gen.uniform(2.0, 10.0))
        out.append({
            "radius": float(gen.uniform(3.0, 10.0)), "volfrac": float(gen.uniform(0.1, 0.58)),
            "polydispersity": float(gen.uniform(0.0, 0.1)), "snr": snr,
            "cnr": float(min(gen.uniform(1.0, 10.0), snr)),
            "particle_size": float(gen.uniform(0.1, 1.0)),
            "brightness": float(gen.uniform(120, 230)), "seed": int(gen.integers(2**31 - 1)),
        })  # fmt: skip
    return out


def measure(cond: dict[str, Any], size: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows (one per method and the CRB) and the fractional positions of one volume."""
    import voxpick
    from voxpick.metrics import evaluate
    from voxpick.simulate import simulate_volume

    sim = simulate_volume(size, rng=cond["seed"], **{k: v for k, v in cond.items() if k != "seed"})
    r = cond["radius"]
    d = 2 * r
    start = time.perf_counter()
    found = voxpick.locate(sim.volume, diameter=d)
    t_locate = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    refined = voxpick.refine(sim.volume, found, diameter=d)
    t_refine, c_refine = time.perf_counter() - start, time.process_time() - cpu
    peer = trackpy_tuned(sim.volume, (d, d, d), dark=False)
    crb = cramer_rao(sim)
    tables = {"default": found, "default+refine": refined, "trackpy tuned": peer}
    base = {k: round(v, 3) if isinstance(v, float) else v for k, v in cond.items()}
    base["n_true"] = len(sim.truth)
    rows, fracs = [], {}
    for name, table in tables.items():
        err, ti, fi = matched_errors(sim.truth, table, radius=r, border=d, shape=sim.volume.shape)
        ev = evaluate(sim.truth, table, diameter=d, border=r, canvas_size=sim.volume.shape)
        row = {**base, "method": name, "n": len(err), "precision": ev.precision,
               "recall": ev.recall}  # fmt: skip
        row.update(zip(("rms_z", "rms_y", "rms_x"), rms(err), strict=True))
        crb_matched = rms(crb[ti])
        row.update(zip(("crb_z", "crb_y", "crb_x"), crb_matched, strict=True))
        if name == "default+refine":
            sigma = table[["sigma_z", "sigma_y", "sigma_x"]].to_numpy()[fi]
            row.update(zip(("sigma_z", "sigma_y", "sigma_x"), rms(sigma), strict=True))
            row["seconds"], row["cpu_seconds"] = t_refine, c_refine
        elif name == "default":
            row["seconds"] = t_locate
        pos = table[["z", "y", "x"]].to_numpy(float)[fi]
        fracs[name] = pos
        row["locking_xy"] = locking(pos[:, 1:])
        row["locking_z"] = locking(pos[:, :1])
        rows.append(row)
    return rows, fracs


def timing(size: int = 128) -> dict[str, Any]:
    """Seconds to locate and refine one dense, heavily blurred volume (the issue's target)."""
    import voxpick
    from voxpick.simulate import simulate_volume

    sim = simulate_volume(
        size, radius=6.0, volfrac=0.55, particle_size=0.25, snr=3.0, cnr=3.0,
        rng=REFINE_TIMING_SEED,
    )  # fmt: skip
    start = time.perf_counter()
    found = voxpick.locate(sim.volume, diameter=12)
    t_locate = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    refined = voxpick.refine(sim.volume, found, diameter=12)
    return {
        "shape": f"{size}^3", "n_true": len(sim.truth), "n_found": len(found),
        "n_refined": len(refined), "locate_s": t_locate,
        "refine_s": time.perf_counter() - start, "refine_cpu_s": time.process_time() - cpu,
        "cores": os.cpu_count(),
    }  # fmt: skip


def locking_figure(fracs: dict[str, list[np.ndarray]], path: Any) -> None:
    """Histograms of the fractional positions (y and x pooled; z) per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=False)
    for name, parts in fracs.items():
        pos = np.concatenate(parts) if parts else np.zeros((0, 3))
        frac = pos - np.rint(pos)
        for ax, cols, title in ((axes[0], [1, 2], "y, x"), (axes[1], [0], "z")):
            ax.hist(frac[:, cols].ravel(), bins=20, range=(-0.5, 0.5), histtype="step",
                    density=True, label=name)  # fmt: skip
            ax.set_title(f"fractional position, {title}")
    axes[0].set_ylabel("density (flat = 1)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Median over volumes of each method's per-axis error, the CRB and the sigma ratio."""
    out = []
    groups = {"SNR >= 3": df[df.snr >= 3], "SNR < 3": df[df.snr < 3], "all": df}
    for group, sub in groups.items():
        if not len(sub):
            continue
        for method in METHODS:
            m = sub[sub.method == method]
            row: dict[str, Any] = {"volumes": group, "method": method, "n": int(m.n.sum())}
            for ax in "zyx":
                row[f"rms {ax}"] = float(m[f"rms_{ax}"].median())
            for ax in "zyx":
                row[f"/CRB {ax}"] = float((m[f"rms_{ax}"] / m[f"crb_{ax}"]).median())
            if method == "default+refine":
                for ax in "zyx":
                    row[f"sigma/err {ax}"] = float((m[f"sigma_{ax}"] / m[f"rms_{ax}"]).median())
            row["locking xy"] = float(m.locking_xy.median())
            row["locking z"] = float(m.locking_z.median())
            row["precision"] = float(m.precision.mean())
            row["recall"] = float(m.recall.mean())
            out.append(row)
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 volumes of 64^3, writes nothing")
    parser.add_argument("--volumes", type=int, default=12)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--no-timing", action="store_true", help="skip the 128^3 timing")
    args = parser.parse_args()
    n, size = (2, 64) if args.quick else (args.volumes, args.size)
    rows: list[dict[str, Any]] = []
    fracs: dict[str, list[np.ndarray]] = {m: [] for m in METHODS}
    for cond in conditions(n, REFINE_SEED):
        got, frac = measure(cond, size)
        rows += got
        for name, pos in frac.items():
            fracs[name].append(pos)
        cols = ["method", "n", "rms_z", "rms_y", "rms_x", "crb_x", "precision", "recall"]
        print(pd.DataFrame(got)[cols].round(3).to_string(), flush=True)
    df = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT / ("refine_quick.csv" if args.quick else "refine.csv"), index=False)
    table = summary(df)
    print(table.round(3).to_string())
    if args.quick:
        return
    timed = timing() if not args.no_timing else None
    locking_figure(fracs, DOCS / "img" / "refine_locking.png")
    per_volume = df[df.method == "default+refine"][
        ["radius", "volfrac", "polydispersity", "snr", "cnr", "particle_size", "n",
         "rms_z", "rms_x", "crb_z", "crb_x", "sigma_z", "sigma_x", "seconds", "cpu_seconds"]
    ]  # fmt: skip
    body = (
        f"{n} held-out volumes of {size}^3 (seed REFINE_SEED: r 3-10 px, SNR 2-10, CNR 1-SNR, "
        "volume fraction 0.1-0.58, polydispersity 0-10%, particle_size 0.1-1 um, challenge "
        "convention). Per axis, median over volumes of the RMS error (voxels) of the truth "
        "particles matched within a radius, more than a diameter from every face; `/CRB`: that "
        "error over the Cramer-Rao bound of the simulator's image model at the true parameters "
        "(same particles); `sigma/err`: refine's reported sigma (RMS) over its measured error; "
        "`locking`: largest over smallest count of a 10-bin histogram of the fractional "
        "positions (1 = flat; docs/img/refine_locking.png); precision and recall (mean) away "
        "from the faces (a radius).\n\n"
        + markdown_table(table)
        + "\n\nPer volume (default + refine):\n\n"
        + markdown_table(per_volume)
    )
    if timed is not None:
        body += (
            "\n\nTiming, one volume at volume fraction 0.55, SNR = CNR = 3, r 6 px, "
            "particle_size 0.25 um (wall seconds on this machine, which other jobs shared):\n\n"
            + markdown_table(pd.DataFrame([timed]))
        )
    command = "python -m bench.benchmarks.refine"
    if (args.volumes, args.size) != (12, 96):
        command += f" --volumes {args.volumes} --size {args.size}"
    update_section("Refine", body, command=command)


if __name__ == "__main__":
    main()
