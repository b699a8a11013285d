"""``method="auto"`` on volumes of noise alone, and how far its noise test stays from particles.

Usage (from the repository root)::

    python -m bench.benchmarks.auto_noise            # ~5 min on 2 cores
    python -m bench.benchmarks.auto_noise --quick    # two small noise volumes; writes nothing

The shipped U-Net reports a dense packing of weak peaks in pure noise, which made
``method="auto"`` keep them. Its noise test (:func:`voxpick.ml.auto.looks_like_noise`: weak
U-Net peaks and neighbouring voxels uncorrelated) sends such volumes to the classical detector.
Part 1 counts detections of the U-Net, the classical detector and auto on noise volumes
(Gaussian, uniform 8-bit, Poisson; 48-128 voxels; diameters 6-16). Part 2 checks that the test
never fires on volumes with particles: the neighbour correlation of the auto-method calibration
and validation volumes (``bench/common/colloids.py``) and of the real volumes, against the cut
(4 standard errors of white noise on the same number of voxels). Writes the section "Auto method
on noise" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from bench.common.colloids import rule_sets, simulate_condition
from bench.common.paths import DATA
from bench.common.real_volumes import VOLUMES, load
from bench.common.report import markdown_table, update_section
from voxpick import locate
from voxpick.detect.measure import neighbour_correlation
from voxpick.ml.auto import NOISE_CORRELATION_SE, NOISE_SCORE

#: Seed of the noise volumes.
NOISE_SEED = 31


def noise_volume(kind: str, edge: int, rng: np.random.Generator) -> np.ndarray:
    """One volume of noise of ``kind`` (normal, uint8 or poisson)."""
    shape = (edge, edge, edge)
    if kind == "normal":
        return rng.normal(100.0, 10.0, shape).astype(np.float32)
    if kind == "uint8":
        return rng.integers(0, 256, shape).astype(np.uint8)
    return rng.poisson(3.0, shape).astype(np.uint16)


def noise_rows(quick: bool) -> list[dict]:
    """Detections per method on noise volumes."""
    rng = np.random.default_rng(NOISE_SEED)
    cases = [("normal", 48, 6), ("uint8", 64, 8)] if quick else [
        (kind, edge, d) for kind in ("normal", "uint8", "poisson") for edge in (48, 96, 128)
        for d in (6, 8, 12, 16) if edge >= 3 * d
    ]  # fmt: skip
    rows = []
    for kind, edge, d in cases:
        vol = noise_volume(kind, edge, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            unet = locate(vol, diameter=d, method="unet")
            classical = locate(vol, diameter=d, method="classical")
            auto = locate(vol, diameter=d)
        rows.append({
            "noise": kind, "edge": edge, "diameter": d, "unet": len(unet),
            "unet_median_score": float(np.median(unet["score"])) if len(unet) else np.nan,
            "classical": len(classical), "auto": len(auto),
            "auto_detector": auto.attrs["detector"],
        })  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def particle_rows(quick: bool) -> list[dict]:
    """Neighbour correlation of volumes with particles, against the cut for their size."""
    cal, val = rule_sets(quick)
    items = [("simulated", f"{c['group']}, phi {c['volfrac']}, SNR {c['snr']:.1f}",
              lambda c=c: simulate_condition(c).volume) for c in cal + val]  # fmt: skip
    if not quick:
        for name, (rel, shape, *_rest) in VOLUMES.items():
            if (DATA / rel).is_file():
                items.append(("real", name, lambda r=rel, s=shape: load(r, s)))
    rows = []
    for group, name, get in items:
        vol = get()
        corr = neighbour_correlation(vol)
        rows.append({"set": group, "volume": name, "neighbour_correlation": corr,
                     "cut": NOISE_CORRELATION_SE / np.sqrt(vol.size)})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two noise volumes, not for docs")
    args = parser.parse_args()
    noise = pd.DataFrame(noise_rows(args.quick))
    parts = pd.DataFrame(particle_rows(args.quick))
    print(noise.to_string(index=False))
    print(parts.groupby("set")[["neighbour_correlation", "cut"]].describe().T)
    if args.quick:
        return
    summary = parts.groupby("set").agg(
        volumes=("volume", "size"),
        lowest_correlation=("neighbour_correlation", "min"),
        median_correlation=("neighbour_correlation", "median"),
        highest_cut=("cut", "max"),
    ).reset_index()  # fmt: skip
    body = (
        f"Pure-noise volumes (seed {NOISE_SEED}): detections of the U-Net, the classical "
        'detector and `method="auto"` (`unet_median_score`: the U-Net\'s median score, 1 at its '
        f"threshold; the noise test needs it under {NOISE_SCORE} and the neighbour correlation "
        f"under {NOISE_CORRELATION_SE:g} standard errors of white noise).\n\n"
        f"**auto on noise: at most {int(noise['auto'].max())} detections per volume (U-Net alone:"
        f" {int(noise['unet'].min())}-{int(noise['unet'].max())}).**\n\n"
        + markdown_table(noise)
        + "\n\nVolumes with particles (the auto-method calibration and validation volumes, and the "
        "real volumes): their neighbour correlation against the cut; the test cannot fire when "
        "the lowest correlation is above the highest cut.\n\n" + markdown_table(summary)
    )
    update_section("Auto method on noise", body, command="python -m bench.benchmarks.auto_noise")


if __name__ == "__main__":
    main()
