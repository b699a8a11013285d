"""Real confocal volumes (no truth): counts, detected volume fraction, neighbour distances.

Usage::

    python bench/real_data.py [--methods "voxpick classical" "trackpy tuned"]

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
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from _peers import odd_size
from _report import markdown_table, update_section
from voxpick.analysis import (
    check_diameter,
    detected_volume_fraction,
    neighbour_ratios,
    pair_correlation,
)
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

    return locate(vol, diameter=diameter, invert=dark, method="classical")


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


def structure(df: pd.DataFrame, diameter: Any, shape: tuple[int, ...]) -> dict[str, float]:
    """Detected volume fraction, nearest neighbours and the first g(r) peak, all in diameters.

    Distances are measured in diameters per axis (``neighbour_ratios``): a (17, 15, 15) voxel
    diameter makes 17 voxels along z one diameter.
    """
    pos = df[["z", "y", "x"]]
    nn = neighbour_ratios(pos, diameter=diameter)
    peak = float("nan")
    if len(df) >= 10:
        in_d = tuple(1.0 / d for d in np.broadcast_to(diameter, 3))  # voxel size in diameters
        edges = np.arange(0.3, 2.0, 0.05)
        g = pair_correlation(pos, shape=shape, voxel_size=in_d, bins=edges)
        peak = float(g["r"].to_numpy()[int(np.nanargmax(g["g"].to_numpy()))])
    return {
        "phi_detected": detected_volume_fraction(pos, diameter=diameter, shape=shape),
        "nn_median_d": float(np.median(nn)) if len(nn) else float("nan"),
        "nn_below_0.8d": float(np.mean(nn < 0.8)) if len(nn) else 0.0,
        "gr_peak_d": peak,
    }


def auto_choice(unet: pd.DataFrame, diameter: Any, shape: tuple[int, ...]) -> str:
    """The detector ``method="auto"`` picks from these U-Net detections, and their phi."""
    from voxpick.detect.auto import DENSE_VOLFRAC, unet_volume_fraction

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
    update_section("Real volumes", note + "\n\n" + body, command="python bench/real_data.py")


if __name__ == "__main__":
    main()
