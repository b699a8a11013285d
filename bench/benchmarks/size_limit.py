"""How small can we go: detection against particle size at volume fraction 0.55, SNR = CNR = 3.

Usage (from the repository root)::

    python -m bench.benchmarks.size_limit            # 8 sizes x 2 volumes of 96^3
    python -m bench.benchmarks.size_limit --quick    # 1 size, 1 volume of 64^3; writes nothing
    python -m bench.benchmarks.size_limit --volumes 1 --size 80

Volumes of voxpick's simulator (seed ``SIZE_LIMIT_SEED``) at volume fraction 0.55, SNR = CNR =
3, radius 6-11 px (drawn per volume, the challenge's test range), and particle_size from 1.0
down to 0.08 um (the challenge's convention: the particle radius in um, pixel size
``particle_size / r``; with the default 0.2 um lateral PSF FWHM the lateral PSF sigma is
``0.085 r / particle_size`` voxels, the axial 2.5 times that). The same packing and radius at
every size (only the imaging changes). Methods: the default (``voxpick.locate``, method auto),
the default then ``voxpick.refine``, the classical detector, and tuned trackpy
(``bench/common/peers.py``; its ``mass`` ranks the sweep). Scored away from the faces (a radius):
precision, recall, and the best recall at precision >= 0.95 over a sweep of each method's score.
The size limit of a method: the smallest particle_size at which its mean precision and recall
are both >= 0.95. Writes the section "Size limit" of docs/benchmarks.md and
docs/img/size_limit.png.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pandas as pd

from bench.common.paths import DOCS, OUT
from bench.common.peers import trackpy_tuned
from bench.common.report import markdown_table, update_section
from bench.common.splits import SIZE_LIMIT_SEED

SIZES = (1.0, 0.5, 0.3, 0.2, 0.15, 0.12, 0.1, 0.08)
METHODS = ("default", "default+refine", "classical", "trackpy tuned")


def packings(n: int, seed: int) -> list[dict[str, Any]]:
    """Radius, brightness and seed of each volume (the same at every particle size)."""
    gen = np.random.default_rng(seed)
    return [
        {
            "radius": float(gen.uniform(6.0, 11.0)),
            "brightness": float(gen.uniform(120, 230)),
            "seed": int(gen.integers(2**31 - 1)),
        }
        for _ in range(n)
    ]


def recall_at_precision(
    truth: pd.DataFrame,
    found: pd.DataFrame,
    *,
    score: np.ndarray,
    d: float,
    shape: Any,
    precision: float = 0.95,
) -> float:
    """Best recall over score cut-offs with precision >= ``precision`` (away from the faces)."""
    from voxpick.metrics import pr_curve

    if len(found) == 0:
        return 0.0
    curve = pr_curve(truth, found, diameter=d, border=d / 2, canvas_size=shape, score=score)
    ok = curve[curve["precision"] >= precision - 1e-9]
    return float(ok["recall"].max()) if len(ok) else 0.0


def measure(pack: dict[str, Any], particle_size: float, size: int) -> list[dict[str, Any]]:
    """One row per method for one volume."""
    import voxpick
    from voxpick.metrics import evaluate
    from voxpick.simulate import simulate_volume

    sim = simulate_volume(
        size, radius=pack["radius"], volfrac=0.55, particle_size=particle_size, snr=3.0,
        cnr=3.0, brightness=pack["brightness"], rng=pack["seed"],
    )  # fmt: skip
    d = 2 * pack["radius"]
    default = voxpick.locate(sim.volume, diameter=d)
    tables = {
        "default": (default, default["score"].to_numpy()),
        "default+refine": None,
        "classical": None,
        "trackpy tuned": None,
    }
    refined = voxpick.refine(sim.volume, default, diameter=d)
    tables["default+refine"] = (refined, refined["score"].fillna(1.0).to_numpy())
    classical = voxpick.locate(sim.volume, diameter=d, method="classical", min_score=0.5)
    tables["classical"] = (classical, classical["score"].to_numpy())
    peer = trackpy_tuned(sim.volume, (d, d, d), dark=False)
    tables["trackpy tuned"] = (peer, peer["mass"].to_numpy() if len(peer) else np.zeros(0))
    rows = []
    for name, (table, score) in tables.items():
        kept = table[table["score"] >= 1] if name == "classical" else table
        ev = evaluate(sim.truth, kept, diameter=d, border=d / 2, canvas_size=sim.volume.shape)
        rows.append({
            "particle_size": particle_size, "radius": round(pack["radius"], 2),
            "psf_sigma_xy": round(sim.metadata["psf_sigma_y"], 2),
            "psf_sigma_z": round(sim.metadata["psf_sigma_z"], 2), "method": name,
            "precision": ev.precision, "recall": ev.recall,
            "recall_at_p95": recall_at_precision(
                sim.truth, table, score=score, d=d, shape=sim.volume.shape
            ),
        })  # fmt: skip
    return rows


def size_limits(summary: pd.DataFrame) -> dict[str, float | None]:
    """Smallest particle_size at which each method keeps mean precision and recall >= 0.95."""
    out: dict[str, float | None] = {}
    for method, sub in summary.groupby("method"):
        ok = sub[(sub.precision >= 0.95) & (sub.recall >= 0.95)]
        out[str(method)] = float(ok.particle_size.min()) if len(ok) else None
    return out


def figure(summary: pd.DataFrame, path: Any) -> None:
    """Precision, recall and recall at precision 0.95 against particle size, per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    for ax, col in zip(axes, ("precision", "recall", "recall_at_p95"), strict=True):
        for method in METHODS:
            sub = summary[summary.method == method].sort_values("particle_size")
            ax.plot(sub.particle_size, sub[col], marker="o", label=method)
        ax.axhline(0.95, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("particle_size (um, radius)")
        ax.set_title(col.replace("_", " "))
    axes[0].set_ylabel("fraction")
    axes[0].set_ylim(0, 1.02)
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 size, 1 volume of 64^3")
    parser.add_argument("--volumes", type=int, default=2)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--sizes", type=float, nargs="*", default=list(SIZES))
    args = parser.parse_args()
    if args.quick:
        n, size, sizes = 1, 64, [0.3]
    else:
        n, size, sizes = args.volumes, args.size, args.sizes
    rows = []
    for ps in sizes:
        for pack in packings(n, SIZE_LIMIT_SEED):
            got = measure(pack, ps, size)
            rows += got
            print(pd.DataFrame(got).round(3).to_string(), flush=True)
    df = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT / ("size_limit_quick.csv" if args.quick else "size_limit.csv"), index=False)
    summary = (
        df.groupby(["particle_size", "method"], sort=False)[
            ["psf_sigma_xy", "psf_sigma_z", "precision", "recall", "recall_at_p95"]
        ]
        .mean()
        .reset_index()
        .sort_values(["particle_size", "method"], ascending=[False, True])
    )
    limits = size_limits(summary)
    print(summary.round(3).to_string())
    print("size limits (precision and recall >= 0.95):", limits)
    if args.quick:
        return
    figure(summary, DOCS / "img" / "size_limit.png")
    limit_text = ", ".join(
        f"{m}: {'none' if v is None else f'{v:g} um'}" for m, v in limits.items()
    )
    body = (
        f"{n} volume(s) of {size}^3 per particle size (seed SIZE_LIMIT_SEED), volume fraction "
        "0.55, SNR = CNR = 3, r 6-11 px; particle_size is the radius in um (the challenge's "
        "convention), PSF sigma in voxels given (means over the volumes). Scored away from the "
        "faces (a radius); `recall_at_p95`: the best recall over a sweep of the method's score "
        "with precision >= 0.95 (classical: candidates down to a score of 0.5; trackpy: "
        "ranked by mass). Means over the volumes. Plot: docs/img/size_limit.png.\n\n"
        + markdown_table(summary)
        + f"\n\nSize limit (smallest particle_size with precision and recall >= 0.95): "
        f"{limit_text}."
    )
    command = "python -m bench.benchmarks.size_limit"
    if (args.volumes, args.size) != (2, 96) or list(args.sizes) != list(SIZES):
        command += f" --volumes {args.volumes} --size {args.size}"
        if list(args.sizes) != list(SIZES):
            command += " --sizes " + " ".join(f"{s:g}" for s in args.sizes)
    update_section("Size limit", body, command=command)


if __name__ == "__main__":
    main()
