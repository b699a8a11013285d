"""Real confocal volumes (no truth): counts, detected volume fraction, neighbour distances.

Usage::

    python bench/real_data.py [--methods "voxpick classical" "trackpy tuned"]

Reads ../shared/data/colloids-real and colloids-real-crops in place (skips what is absent),
runs each method with the suggested particle diameter, and reports the number found, the
detected volume fraction (centres more than half a diameter inside the faces, each counted as an
ellipsoid of the diameter), the median nearest-neighbour distance in diameters (in a physical
sample it sits near 1.0-1.2 when dense), and the fraction of nearest neighbours closer than 0.8
diameter (overlapping spheres are impossible, so these are duplicates or false detections).
Overlays go to docs/img/real_*.png; the table to docs/benchmarks.md ("Real volumes").
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from _peers import odd_size
from _report import update_section
from voxpick.analysis import detected_volume_fraction, nearest_neighbour_distances
from voxpick.io import read_tiff

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DOCS = ROOT / "docs"
SILICA = (17.0, 15.0, 15.0)
PMMA = (15.0, 11.0, 11.0)

#: name -> (path relative to DATA, raw shape or None, diameter (z, y, x) px, dark particles,
#: expected count or None). Diameters: the data README's suggestions; crops measured by eye.
VOLUMES: dict[str, tuple[str, tuple[int, int, int] | None, tuple[float, ...], bool, int | None]] = {
    "abraham": ("colloids-real/abraham.tiff", None, SILICA, False, None),
    "katherine": ("colloids-real/katherine.tiff", None, SILICA, False, None),
    "abraham_old": ("colloids-real/abraham_old.tiff", None, SILICA, False, None),
    "emily_old": ("colloids-real/emily_old.tiff", None, SILICA, False, None),
    "katherine_old": ("colloids-real/katherine_old.tiff", None, SILICA, False, None),
    "levke_v1": ("colloids-real/levke_v1.tiff", None, PMMA, False, None),
    "levke_v2": ("colloids-real/levke_v2.tiff", None, PMMA, False, None),
    "small_confocal (dark)": (
        "colloids-real-crops/small_confocal_image.tif", None, (12.0, 10.0, 10.0), True, 37,
    ),
    "gel": ("colloids-real-crops/gel.raw", (31, 64, 64), (11.0, 8.0, 8.0), False, None),
    "Z_elong": ("colloids-real-crops/Z_elong.raw", (55, 50, 50), (20.0, 8.0, 8.0), False, 4),
    "Z_preblur": ("colloids-real-crops/Z_preblur.raw", (30, 25, 25), (10.0, 9.0, 9.0), False, 3),
}  # fmt: skip


def load(rel: str, shape: tuple[int, int, int] | None) -> np.ndarray:
    path = DATA / rel
    if shape is not None:
        return np.fromfile(path, dtype=np.uint8).reshape(shape)
    return read_tiff(path)


def voxpick_classical(vol: np.ndarray, diameter: tuple[float, ...], dark: bool) -> pd.DataFrame:
    from voxpick.detect import locate

    return locate(vol, diameter=diameter, invert=dark)


def voxpick_unet(vol: np.ndarray, diameter: tuple[float, ...], dark: bool) -> pd.DataFrame:
    from voxpick.detect import locate

    return locate(vol, diameter=diameter, invert=dark, method="unet")


def trackpy_tuned(vol: np.ndarray, diameter: tuple[float, ...], dark: bool) -> pd.DataFrame:
    """trackpy as an expert would set it for dense samples: odd diameters, separation 0.8 d."""
    import trackpy as tp

    tp.quiet()
    image = 255 - vol if dark else vol
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tp.locate(
            image,
            diameter=tuple(odd_size(d) for d in diameter),
            separation=tuple(0.8 * d for d in diameter),
        )


def trackpy_default(vol: np.ndarray, diameter: tuple[float, ...], dark: bool) -> pd.DataFrame:
    import trackpy as tp

    tp.quiet()
    image = 255 - vol if dark else vol
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tp.locate(image, diameter=tuple(odd_size(d) for d in diameter))


METHODS: dict[str, Callable[[np.ndarray, tuple[float, ...], bool], pd.DataFrame]] = {
    "voxpick unet": voxpick_unet,
    "voxpick classical": voxpick_classical,
    "trackpy default": trackpy_default,
    "trackpy tuned": trackpy_tuned,
}


def overlay(name: str, vol: np.ndarray, found: dict[str, pd.DataFrame], diameter) -> Path:
    from matplotlib.figure import Figure

    from voxpick.plot import plot_slice

    fig = Figure(figsize=(4 * len(found), 8), layout="constrained")
    axes = fig.subplots(2, len(found), squeeze=False)
    for col, (method, df) in enumerate(found.items()):
        for row, axis in enumerate((0, 1)):
            ax = axes[row, col]
            plot_slice(vol, df, diameter=diameter, axis=axis, ax=ax)
            ax.set_title(f"{method}: {len(df)} ({'xy' if axis == 0 else 'xz'})", fontsize=9)
    path = DOCS / "img" / f"real_{name.split()[0]}.png"
    fig.savefig(path, dpi=60)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    args = parser.parse_args()
    if not DATA.exists():
        print(f"{DATA} is absent: nothing to do")
        return
    (DOCS / "img").mkdir(exist_ok=True)
    rows = []
    for name, (rel, shape, diameter, dark, expected) in VOLUMES.items():
        if not (DATA / rel).exists():
            continue
        vol = load(rel, shape)
        found = {}
        for method in args.methods:
            try:
                df = METHODS[method](vol, diameter, dark)
            except (ValueError, ImportError, FileNotFoundError) as err:
                print(f"{method} unavailable on {name}: {err}")
                continue
            found[method] = df
            nn = nearest_neighbour_distances(df[["z", "y", "x"]]) / np.mean(diameter[1:])
            rows.append(
                {
                    "volume": name,
                    "shape": "x".join(map(str, vol.shape)),
                    "diameter": "/".join(f"{d:g}" for d in diameter),
                    "method": method,
                    "found": len(df),
                    "expected": expected if expected is not None else "",
                    "phi_detected": round(
                        detected_volume_fraction(
                            df[["z", "y", "x"]], diameter=diameter, shape=vol.shape
                        ),
                        3,
                    ),
                    "nn_median_d": round(float(np.median(nn)), 2) if len(nn) else float("nan"),
                    "nn_below_0.8d": round(float(np.mean(nn < 0.8)), 3) if len(nn) else 0.0,
                }
            )
        overlay(name, vol, found, diameter)
    df = pd.DataFrame(rows)
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns)
    body = (
        head
        + "\n"
        + "\n".join("| " + " | ".join(str(v) for v in r) + " |" for r in df.itertuples(index=False))
    )
    note = (
        "No truth exists for these volumes. phi_detected counts centres more than half a "
        "diameter inside the faces as ellipsoids of the diameter; nn_median_d is the median "
        "nearest-neighbour distance in xy diameters; nn_below_0.8d the fraction of particles "
        "whose nearest neighbour is closer than 0.8 diameter (physically impossible for hard "
        "spheres: duplicates or false detections). Overlays: docs/img/real_*.png."
    )
    print(body)
    update_section("Real volumes", note + "\n\n" + body, command="python bench/real_data.py")


if __name__ == "__main__":
    main()
