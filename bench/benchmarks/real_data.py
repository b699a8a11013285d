"""Real confocal volumes (no truth): counts, detected volume fraction, neighbour distances.

Usage (from the repository root)::

    python -m bench.benchmarks.real_data [--methods "voxpick classical" "trackpy tuned"]
    python -m bench.benchmarks.real_data --quick   # the small crops only; writes nothing

Reads ../shared/data/colloids-real and colloids-real-crops in place (skips what is absent),
runs each method with the suggested particle diameter, and reports the number found, the
detected volume fraction (centres more than half a diameter inside the faces, each counted as an
ellipsoid of the diameter), the median nearest-neighbour distance in diameters (in a physical
sample it sits near 1.0-1.2 when dense), the fraction of nearest neighbours closer than 0.8
diameter (overlapping spheres are impossible, so these are duplicates, false detections or a
diameter that is too large) and the first g(r) peak. voxpick's methods are also checked with
``voxpick.analysis.check_diameter``; where it finds the suggested diameter too large, they are
run again with the diameter it suggests (rows "..., checked d").
Overlays go to docs/img/real_*.png; the table to docs/benchmarks.md ("Real volumes").
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.common.paths import DATA, DOCS
from bench.common.peers import trackpy_default, trackpy_tuned
from bench.common.real_volumes import VOLUMES, load, structure
from bench.common.report import markdown_table, update_section
from voxpick.analysis import check_diameter


def voxpick_classical(vol: np.ndarray, diameter: tuple[float, ...], dark: bool) -> pd.DataFrame:
    from voxpick import locate

    return locate(vol, diameter=diameter, invert=dark, method="classical")


def voxpick_unet(vol: np.ndarray, diameter: tuple[float, ...], dark: bool) -> pd.DataFrame:
    from voxpick import locate

    return locate(vol, diameter=diameter, invert=dark, method="unet")


#: ``--quick`` leaves out the volumes under this folder (the large stacks).
QUICK_SKIPS = "colloids-real/"

METHODS: dict[str, Callable[[np.ndarray, tuple[float, ...], bool], pd.DataFrame]] = {
    "voxpick unet": voxpick_unet,
    "voxpick classical": voxpick_classical,
    "trackpy default": trackpy_default,
    "trackpy tuned": trackpy_tuned,
}


def auto_choice(unet: pd.DataFrame, diameter: Any, shape: tuple[int, ...]) -> str:
    """The detector ``method="auto"`` picks from these U-Net detections, and their phi."""
    from voxpick.ml.auto import DENSE_VOLFRAC, unet_volume_fraction

    phi = unet_volume_fraction(unet, shape=shape, diameter_px=np.broadcast_to(diameter, 3))
    return f"{'unet' if phi >= DENSE_VOLFRAC else 'classical'} ({phi:.2f})"


def overlay(name: str, vol: np.ndarray, found: dict[str, tuple[pd.DataFrame, Any]]) -> Path:
    from matplotlib.figure import Figure

    from voxpick.plot import plot_slice

    fig = Figure(figsize=(4 * len(found), 8), layout="constrained")
    axes = fig.subplots(2, len(found), squeeze=False)
    for col, (method, (df, diameter)) in enumerate(found.items()):
        for row, axis in enumerate((0, 1)):
            ax = axes[row, col]
            plot_slice(vol, df, diameter=diameter, axis=axis, ax=ax)
            ax.set_title(f"{method}: {len(df)} ({'xy' if axis == 0 else 'xz'})", fontsize=9)
    path = DOCS / "img" / f"real_{name.split()[0]}.png"
    fig.savefig(path, dpi=60)
    return path


def _fmt_d(diameter: Any) -> str:
    return "/".join(f"{d:.3g}" for d in np.broadcast_to(diameter, 3))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--quick", action="store_true", help="the small crops only, not for docs")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"{DATA} is absent: nothing to do")
        return
    if not args.quick:
        (DOCS / "img").mkdir(exist_ok=True)
    rows = []
    for name, (rel, shape, diameter, dark, expected) in VOLUMES.items():
        if not (DATA / rel).exists() or (args.quick and QUICK_SKIPS in rel):
            continue
        vol = load(rel, shape)
        found: dict[str, tuple[pd.DataFrame, Any]] = {}
        for method in args.methods:
            try:
                df = METHODS[method](vol, diameter, dark)
            except (ValueError, ImportError, FileNotFoundError) as err:
                print(f"{method} unavailable on {name}: {err}")
                continue
            runs = [(method, df, diameter, "")]
            if method.startswith("voxpick "):
                check = check_diameter(
                    vol, diameter=diameter, method=method.split()[1], invert=dark, found=df
                )
                runs[0] = (method, df, diameter, check.verdict)
                if check.verdict == "too large":  # located again with the diameter it suggests
                    fn = METHODS[method]
                    d2 = tuple(float(v) for v in np.broadcast_to(check.suggested, 3))
                    runs.append((f"{method}, checked d", fn(vol, d2, dark), d2, ""))
            for label, frame, d, verdict in runs:
                found[label] = (frame, d)
                figures = {k: round(v, 3) for k, v in structure(frame, d, vol.shape).items()}
                rows.append({
                    "volume": name, "shape": "x".join(map(str, vol.shape)),
                    "diameter": _fmt_d(d), "method": label, "found": len(frame),
                    "expected": expected if expected is not None else "",
                    **figures, "diameter check": verdict,
                    "auto picks": auto_choice(frame, d, vol.shape) if "unet" in label else "",
                })  # fmt: skip
        if not args.quick:
            overlay(name, vol, found)
    df = pd.DataFrame(rows)
    note = (
        "No truth exists for these volumes. Distances are in diameters per axis (a (17, 15, 15) "
        "voxel diameter makes 17 voxels along z one diameter). phi_detected counts centres more "
        "than half a diameter inside the faces as ellipsoids of the diameter; nn_median_d is the "
        "median nearest-neighbour distance; nn_below_0.8d the fraction of particles whose "
        "nearest neighbour is closer than 0.8 diameter (physically impossible for hard spheres: "
        "duplicates, false detections, or a diameter that is too large); gr_peak_d the position "
        "of the highest g(r) peak between 0.3 and 2 diameters (about 1 for a dense packing). "
        "diameter check: the verdict of `voxpick.analysis.check_diameter` for the suggested "
        "diameter; where it is *too large*, a second row (*checked d*) locates again with the "
        'diameter it suggests. auto picks: the detector `method="auto"` uses with that '
        "diameter (from the U-Net row's detected volume fraction, given in brackets; with "
        "*unet* it also adds the classical detections half a diameter or more from every "
        "U-Net one). "
        "Overlays: docs/img/real_*.png."
    )
    body = markdown_table(df.astype(object).where(df.notna(), ""))
    print(body)
    if args.quick:
        return
    update_section(
        "Real volumes", note + "\n\n" + body, command="python -m bench.benchmarks.real_data"
    )


if __name__ == "__main__":
    main()
