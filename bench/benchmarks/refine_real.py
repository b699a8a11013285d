"""Refine on the real confocal volumes: close pairs and structure before and after.

Usage (from the repository root)::

    python -m bench.benchmarks.refine_real            # every real volume present
    python -m bench.benchmarks.refine_real --quick    # the small crops only; writes nothing

There is no truth for real volumes, so the figure is physical: hard spheres cannot overlap, and
a pair of detections closer than 0.8 diameter (distances in diameters per axis) is a duplicate,
a false detection or a badly placed particle. Each volume of ``bench/common/real_volumes.py``
(read in place from ../shared/data, skipped when absent) is located by the default
(``voxpick.locate``, method auto, the suggested diameter), checked with
``voxpick.analysis.check_diameter`` (where it finds the diameter too large, located again with
the one it suggests, as a user would) and refined (``voxpick.refine``); the table gives the
count, the number of pairs closer than 0.8 diameter, the fraction of particles whose nearest
neighbour is that close, the median nearest-neighbour distance, the first g(r) peak and the
detected volume fraction, before and after, and refine's median reported ``sigma``. Overlays
(an xy and an xz slice, before and after) go to ``docs/img/refine_real_NAME.png``; the table to
docs/benchmarks.md ("Refine on real volumes").
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from bench.common.paths import DATA, DOCS
from bench.common.real_volumes import VOLUMES, load, structure
from bench.common.report import markdown_table, update_section
from voxpick.analysis import check_diameter, close_pairs

#: Pairs closer than this many diameters (per axis) cannot both be hard-sphere particles.
CLOSE = 0.8

#: ``--quick`` leaves out the volumes under this folder (the large stacks).
QUICK_SKIPS = "colloids-real/"


def _fmt_d(diameter: Any) -> str:
    return "/".join(f"{v:.3g}" for v in np.broadcast_to(diameter, 3))


def close_pair_count(df: pd.DataFrame, diameter: Any) -> int:
    """Number of pairs of detections closer than :data:`CLOSE` diameters (per-axis units)."""
    in_d = tuple(1.0 / d for d in np.broadcast_to(np.asarray(diameter, dtype=float), (3,)))
    return len(close_pairs(df[["z", "y", "x"]], min_distance=CLOSE, voxel_size=in_d))


def overlay(name: str, vol: np.ndarray, before: pd.DataFrame, after: pd.DataFrame, d: Any) -> str:
    """Write the before/after overlay of one volume; return its path relative to docs/."""
    from matplotlib.figure import Figure

    from voxpick.plot import plot_slice

    fig = Figure(figsize=(8, 8), layout="constrained")
    axes = fig.subplots(2, 2, squeeze=False)
    for col, (label, df) in enumerate((("default", before), ("default + refine", after))):
        for row, axis in enumerate((0, 1)):
            ax = axes[row, col]
            plot_slice(vol, df, diameter=d, axis=axis, ax=ax)
            ax.set_title(f"{label}: {len(df)} ({'xy' if axis == 0 else 'xz'})", fontsize=9)
    rel = f"img/refine_real_{name.split()[0]}.png"
    fig.savefig(DOCS / rel, dpi=60)
    return rel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small crops only, not for docs")
    args = parser.parse_args()

    import voxpick

    rows, images = [], []
    for name, (rel, shape, diameter, dark, _) in VOLUMES.items():
        if not (DATA / rel).is_file() or (args.quick and rel.startswith(QUICK_SKIPS)):
            continue
        vol = load(rel, shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            before = voxpick.locate(vol, diameter=diameter, invert=dark)
            check = check_diameter(vol, diameter=diameter, invert=dark, found=before)
            if check.verdict == "too large":
                diameter = tuple(float(v) for v in np.broadcast_to(check.suggested, 3))
                before = voxpick.locate(vol, diameter=diameter, invert=dark)
            t1 = time.perf_counter()
            after = voxpick.refine(vol, before, diameter=diameter, invert=dark)
            t2 = time.perf_counter()
        for label, df in (("default", before), ("default+refine", after)):
            s = structure(df, diameter, vol.shape)
            rows.append({
                "volume": name, "diameter": _fmt_d(diameter),
                "method": label, "n": len(df),
                "pairs_below_0.8d": close_pair_count(df, diameter),
                "nn_below_0.8d": s["nn_below_0.8d"], "nn_median_d": s["nn_median_d"],
                "gr_peak_d": s["gr_peak_d"], "phi_detected": s["phi_detected"],
                "median_sigma_xy": float(np.median(df[["sigma_y", "sigma_x"]].to_numpy()))
                if "sigma_x" in df and len(df) else float("nan"),
                "seconds": t1 - t0 if label == "default" else t2 - t1,
            })  # fmt: skip
            print({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()})
        if not args.quick:
            images.append((name, overlay(name, vol, before, after, diameter)))
    if args.quick or not rows:
        return
    table = pd.DataFrame(rows)
    wide = table.pivot(index="volume", columns="method", values="pairs_below_0.8d")
    fewer = int((wide["default+refine"] < wide["default"]).sum())
    same = int((wide["default+refine"] == wide["default"]).sum())
    body = (
        "Real confocal volumes (no truth), the suggested diameters of "
        "`bench/common/real_volumes.py`, or where `voxpick.analysis.check_diameter` finds one "
        "too large, the diameter it suggests (column `diameter`, z/y/x voxels). "
        "`pairs_below_0.8d`: pairs of detections closer than 0.8 diameter (per-axis units), "
        "impossible for hard spheres; `nn_below_0.8d`: the fraction of particles whose nearest "
        "neighbour is that close; `median_sigma_xy`: refine's reported uncertainty (voxels); "
        "seconds: wall time on this machine (shared with other jobs).\n\n"
        f"**Close pairs after refine: fewer on {fewer}, the same on {same}, more on "
        f"{len(wide) - fewer - same} of {len(wide)} volumes.**\n\n"
        + markdown_table(table)
        + "\n\nOverlays (xy and xz slices through the middle, before and after):\n\n"
        + "\n".join(f"- {name}: ![{name}]({path})" for name, path in images)
    )
    update_section("Refine on real volumes", body, command="python -m bench.benchmarks.refine_real")


if __name__ == "__main__":
    main()
