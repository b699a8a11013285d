"""Where the default ``locate`` (``method="auto"``) spends its time, stage by stage.

Usage (from the repository root)::

    python -m bench.benchmarks.locate_stages [--repeats 3] [--sizes 64 128 256]
    python -m bench.benchmarks.locate_stages --quick     # 64^3, one repeat; writes nothing

Times each stage of ``voxpick.locate(volume, diameter=8)`` on a crowded (volume fraction 0.45,
the volume of ``bench.benchmarks.speed``) and a sparse (0.15) simulated volume: the stage
functions are wrapped by timers for the run (inclusive wall time, keyed by the chain of stages
that called them, so the U-Net run on the central crop of the auto decision is told apart from
the one on the whole volume). Medians over the repeats, after one warm-up call. Writes the
section "Locate stages (method='auto')" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import statistics
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from bench.common.report import update_section
from bench.common.splits import SPEED_VOLUME_SEED
from voxpick import locate
from voxpick.simulate import simulate_volume

RADIUS = 4.0
CONDITIONS = {"crowded": 0.45, "sparse": 0.15}


def _stages() -> list[tuple[str, Any, str]]:
    """(label, owner, attribute) of every timed function."""
    import voxpick.api
    import voxpick.detect.classical as classical
    import voxpick.ml.auto as auto
    import voxpick.ml.detector as detector
    import voxpick.ml.infer as infer
    import voxpick.tiling.chunked as chunked

    return [
        ("auto decision (estimate)", auto.AutoDetector, "estimate"),
        ("find", auto.AutoDetector, "find"),
        ("finish", auto.AutoDetector, "finish"),
        ("run_detector", voxpick.api, "run_detector"),
        ("merge blocks", chunked, "_finish"),
        ("unet", detector.UNetDetector, "find"),
        ("classical", classical.ClassicalDetector, "find"),
        ("classical estimate", classical.ClassicalDetector, "estimate"),
        ("resample", infer, "to_model_scale"),
        ("normalise", infer, "normalize_intensity"),
        ("network", infer, "predict_heatmap"),
        ("heatmap peaks", infer, "find_peaks"),
        ("measure", detector, "measure_particles"),
        ("measure", classical, "measure_particles"),
        ("band-pass", classical, "log_filters"),
        ("maxima", classical, "_find_peaks"),
        ("add missed", auto, "add_missed"),
        ("measure", auto, "measure_particles"),
    ]


@contextlib.contextmanager
def stage_timers() -> Iterator[dict[str, float]]:
    """Wrap every stage function with a timer; yield ``{"a/b/c": seconds}`` (inclusive)."""
    totals: dict[str, float] = defaultdict(float)
    stack: list[str] = []
    saved = []

    def wrap(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack.append(label)
            key = "/".join(stack)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[key] += time.perf_counter() - t0
                stack.pop()

        return timed

    for label, owner, attr in _stages():
        fn = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        saved.append((owner, attr, fn))
        setattr(owner, attr, wrap(label, fn))
    try:
        yield totals
    finally:
        for owner, attr, fn in reversed(saved):
            setattr(owner, attr, fn)


def profile(volume: Any, repeats: int) -> tuple[float, dict[str, float], str]:
    """Median total seconds, median seconds per stage path, and the detector that ran."""
    found = locate(volume, diameter=2 * RADIUS)  # warm-up
    runs: dict[str, list[float]] = defaultdict(list)
    totals = []
    for _ in range(repeats):
        with stage_timers() as times:
            t0 = time.perf_counter()
            locate(volume, diameter=2 * RADIUS)
            totals.append(time.perf_counter() - t0)
        for key, seconds in times.items():
            runs[key].append(seconds)
    medians = {k: statistics.median(v + [0.0] * (repeats - len(v))) for k, v in runs.items()}
    return statistics.median(totals), medians, str(found.attrs["detector"])


def table(size: int, condition: str, total: float, stages: dict[str, float], ran: str) -> str:
    """Markdown rows: every stage path, indented under its caller, with its share of the total."""
    rows = [f"| {size}^3 {condition} ({ran}) | **total** | {total:.3f} | 100% |"]
    for key in sorted(stages, key=lambda k: (k.split("/")[0] != "auto decision (estimate)", k)):
        name = "&nbsp;" * 4 * key.count("/") + key.rsplit("/", 1)[-1]
        rows.append(f"| | {name} | {stages[key]:.3f} | {100 * stages[key] / total:.0f}% |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--quick", action="store_true", help="64^3, one repeat, not for docs")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.sizes = 1, [64]
    warnings.simplefilter("ignore")
    load = os.getloadavg()[0]
    parts = []
    for size in args.sizes:
        for condition, volfrac in CONDITIONS.items():
            sim = simulate_volume(
                size, radius=RADIUS, volfrac=volfrac, particle_size=0.3, snr=6, cnr=4,
                rng=SPEED_VOLUME_SEED,
            )  # fmt: skip
            total, stages, ran = profile(sim.volume, args.repeats)
            parts.append(table(size, condition, total, stages, ran))
            print(parts[-1], flush=True)
    body = "\n".join(
        [
            f"`voxpick.locate(volume, diameter=8)` (method `auto`), {args.repeats} repeats, "
            f"median seconds per stage (inclusive: a stage's time contains the indented stages "
            f"below it), {os.cpu_count()} cores ({platform.machine()}; load average "
            f"{load:.1f} when it started). Volumes: r = 4 px, "
            "SNR 6, CNR 4, volume fraction 0.45 (crowded, the `speed` volume) and 0.15 "
            "(sparse). The auto decision runs the U-Net on a central crop of at least 128^3 "
            "voxels; where the crop is the whole volume its candidates are reused by `find`.",
            "",
            "| volume (detector kept) | stage | median s | share |",
            "|---|---|---|---|",
            *parts,
        ]
    )
    if args.quick or args.no_write:
        return
    update_section(
        "Locate stages (method='auto')",
        body,
        command=f"python -m bench.benchmarks.locate_stages --repeats {args.repeats}",
    )


if __name__ == "__main__":
    main()
