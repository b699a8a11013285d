"""Speed benchmark: seconds per volume for voxpick and trackpy, side by side in one process.

Usage (from the repository root)::

    python -m bench.benchmarks.speed [--repeats 5] [--sizes 64 128 256]
    python -m bench.benchmarks.speed --quick     # 64^3, one repeat; writes nothing

Each method runs on the same simulated volume (volfrac 0.45, r 4 px); every method is warmed up
once (numba compilation, ONNX Runtime sessions) before timing, then the methods take turns in
each repeat. Reports the median of the repeats, the ratio
tuned trackpy / method (> 1 means the method is faster) and the peak memory traced by
tracemalloc during one call (numpy allocations; the runtimes' own buffers are not traced, so the
U-Net figures are lower bounds). The U-Net runs on the CPU in the default runtime
(``voxpick.nn.runtime``: OpenVINO when installed; the "ONNX Runtime" and "PyTorch runtime" rows
run ``auto`` in those), torch's default threads.
Writes docs/benchmarks.md ("Locate speed").
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import tracemalloc
import warnings
from collections.abc import Callable

import numpy as np

from bench.common.report import update_section
from bench.common.splits import SPEED_VOLUME_SEED
from voxpick import locate
from voxpick.nn.runtime import CPU_RUNTIME_ENV
from voxpick.simulate import simulate_volume

RADIUS = 4.0


def _trackpy_default(volume: np.ndarray) -> object:
    import trackpy as tp

    return tp.locate(volume, diameter=9)


def _trackpy_tuned(volume: np.ndarray) -> object:
    import trackpy as tp

    return tp.locate(volume, diameter=(13, 9, 9), separation=(8, 6, 6))


def _voxpick(volume: np.ndarray) -> object:
    return locate(volume, diameter=2 * RADIUS, method="classical")


def _voxpick_auto(volume: np.ndarray) -> object:
    return locate(volume, diameter=2 * RADIUS, method="auto")


def _auto_in(runtime: str) -> Callable[[np.ndarray], object]:
    def run(volume: np.ndarray) -> object:
        before = os.environ.get(CPU_RUNTIME_ENV)
        os.environ[CPU_RUNTIME_ENV] = runtime
        try:
            return locate(volume, diameter=2 * RADIUS, method="auto")
        finally:
            if before is None:
                del os.environ[CPU_RUNTIME_ENV]
            else:
                os.environ[CPU_RUNTIME_ENV] = before

    return run


def _voxpick_auto_fast(volume: np.ndarray) -> object:
    return locate(volume, diameter=2 * RADIUS, method="auto", model="unet_colloids_fast_v1")


def _voxpick_unet(volume: np.ndarray) -> object:
    return locate(volume, diameter=2 * RADIUS, method="unet")


def _voxpick_unet_tta(volume: np.ndarray) -> object:
    return locate(volume, diameter=2 * RADIUS, method="unet", scales="tta")


METHODS: dict[str, Callable[[np.ndarray], object]] = {
    "voxpick classical": _voxpick,
    "voxpick unet": _voxpick_unet,
    "voxpick unet, scales='tta'": _voxpick_unet_tta,
    "voxpick auto": _voxpick_auto,
    "voxpick auto, model='unet_colloids_fast_v1'": _voxpick_auto_fast,
    "voxpick auto, ONNX Runtime": _auto_in("onnxruntime"),
    "voxpick auto, PyTorch runtime": _auto_in("torch"),
    "trackpy default": _trackpy_default,
    "trackpy tuned": _trackpy_tuned,
}


def interleaved(
    methods: dict[str, Callable[[np.ndarray], object]], volume: np.ndarray, repeats: int
) -> dict[str, list[float]]:
    """Seconds per call of every method, the methods taking turns in each repeat.

    Taking turns spreads any change of the machine's load over all methods alike, so the
    ratios stay fair on a shared machine.
    """
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            t0 = time.perf_counter()
            fn(volume)
            times[name].append(time.perf_counter() - t0)
    return times


def peak_mib(fn: Callable[[np.ndarray], object], volume: np.ndarray) -> float:
    tracemalloc.start()
    fn(volume)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--no-unet", action="store_true", help="skip the learned detector")
    parser.add_argument("--quick", action="store_true", help="64^3, one repeat, not for docs")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.sizes = 1, [64]
    import trackpy as tp

    if args.no_unet:
        METHODS.pop("voxpick unet")
        METHODS.pop("voxpick unet, scales='tta'")
    tp.quiet()
    warnings.simplefilter("ignore")
    load = os.getloadavg()[0]
    rows = []
    for size in args.sizes:
        sim = simulate_volume(
            size,
            radius=RADIUS,
            volfrac=0.45,
            particle_size=0.3,
            snr=6,
            cnr=4,
            rng=SPEED_VOLUME_SEED,
        )
        for fn in METHODS.values():
            fn(sim.volume)  # warm-up (compilation, caches, sessions)
        times = interleaved(METHODS, sim.volume, args.repeats)
        medians = {name: statistics.median(t) for name, t in times.items()}
        for name, fn in METHODS.items():
            t = times[name]
            rows.append((size, name, medians[name], max(t), peak_mib(fn, sim.volume)))
        for i in range(len(rows) - len(METHODS), len(rows)):
            size_, name, med, worst, mem = rows[i]
            rows[i] = (size_, name, med, worst, mem, medians["trackpy tuned"] / med)
    lines = [
        f"{args.repeats} repeats per cell, {os.cpu_count()} cores "
        f"({platform.machine()}; load average {load:.1f} when it started), same process, "
        "methods taking turns; volfrac 0.45, r = 4 px.",
        "",
        "| size | method | median s | worst s | peak MiB (tracemalloc) | trackpy tuned / this |",
        "|---|---|---|---|---|---|",
    ]
    for size, name, med, worst, mem, ratio in rows:
        lines.append(f"| {size}^3 | {name} | {med:.3f} | {worst:.3f} | {mem:.0f} | {ratio:.2f} |")
    table = "\n".join(lines)
    print(table)
    if args.quick or args.no_write:
        return
    command = f"python -m bench.benchmarks.speed --repeats {args.repeats}"
    update_section("Locate speed", table, command=command)


if __name__ == "__main__":
    main()
