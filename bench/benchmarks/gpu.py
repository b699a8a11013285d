"""GPU benchmark: voxels per second of locate and pick in float32 and float16, and training steps.

Usage (from the repository root, on a machine with CUDA; a few minutes)::

    python -m bench.benchmarks.gpu            # writes docs/benchmarks.md ("GPU (CUDA)")
    python -m bench.benchmarks.gpu --quick    # smaller volumes, writes nothing

Without CUDA it says so and exits 0, measuring nothing (everything else in voxpick runs on the
CPU). With CUDA, on the first GPU, each after one warm-up call, medians of ``--repeats``:

1. ``voxpick.locate(volume, diameter=8, method=M, device="cuda")`` on a simulated 256^3 volume
   (volume fraction 0.45, r = 4 px, the ``speed`` volume), for ``unet`` and ``auto``, in
   float32 and under ``torch.autocast("cuda", dtype=torch.float16)``; the float16 detections
   are matched to the float32 ones (within 1 voxel) to show what the lower precision changes.
2. ``voxpick.cryoet.pick`` with the shipped picker on a simulated 184 x 384 x 384 tomogram
   (CZII densities, the simulator's defaults), float32 and float16, picks matched likewise.
3. One training step (forward, backward, AdamW) of the shipped U-Net architecture on a batch of
   the training recipe (2 x 64^3), float32 and with float16 autocast and a gradient scaler;
   the simulation of training volumes (on the CPU) is not included.

The CPU side (normalisation, peaks, the classical detector of ``auto``) runs on the host's
cores, so the locate figures are end to end, not the network alone.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from bench.common.report import update_section
from bench.common.splits import FULL_SIZE_TOMOGRAM_SEED, SPEED_VOLUME_SEED

SECTION = "GPU (CUDA)"


def cuda_device() -> str | None:
    """Name of the first CUDA device, or None without one."""
    import torch

    if not torch.cuda.is_available():
        return None
    return str(torch.cuda.get_device_name(0))


@contextlib.contextmanager
def precision(name: str) -> Iterator[None]:
    """Float32 as is, or float16 autocast on CUDA."""
    import torch

    if name == "float16":
        with torch.autocast("cuda", dtype=torch.float16):
            yield
    else:
        yield


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds of ``fn()`` over ``repeats`` calls after a warm-up, and its last result."""
    import torch

    out = fn()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def matched(a: Any, b: Any, cols: list[str]) -> float:
    """Fraction of the rows of ``a`` with a row of ``b`` within one voxel (and vice versa)."""
    from scipy.spatial import cKDTree

    if len(a) == 0 or len(b) == 0:
        return float(len(a) == len(b))
    pa, pb = a[cols].to_numpy(float), b[cols].to_numpy(float)
    da, _ = cKDTree(pb).query(pa)
    db, _ = cKDTree(pa).query(pb)
    return float(min((da <= 1.0).mean(), (db <= 1.0).mean()))


def bench_locate(size: int, repeats: int) -> list[str]:
    """Rows: locate on a crowded volume, per method and precision."""
    from voxpick import locate
    from voxpick.simulate import simulate_volume

    sim = simulate_volume(
        size, radius=4.0, volfrac=0.45, particle_size=0.3, snr=6, cnr=4, rng=SPEED_VOLUME_SEED
    )
    rows = []
    for method in ("unet", "auto"):
        found = {}
        for prec in ("float32", "float16"):

            def run(method: str = method, prec: str = prec) -> Any:
                with precision(prec):
                    return locate(sim.volume, diameter=8, method=method, device="cuda")

            seconds, found[prec] = timed(run, repeats)
            agree = matched(found["float32"], found[prec], ["z", "y", "x"])
            rows.append(
                f"| locate {method} | {size}^3 | {prec} | {seconds:.3f} | "
                f"{size**3 / seconds / 1e6:.1f} | {len(found[prec])} ({agree:.3f}) |"
            )
            print(rows[-1], flush=True)
    return rows


def bench_pick(shape: tuple[int, int, int], repeats: int) -> list[str]:
    """Rows: the shipped picker on a simulated tomogram, per precision."""
    from voxpick.cryoet import load_picker, pick
    from voxpick.simulate import simulate_tomogram

    vol, _ = simulate_tomogram(shape, voxel_size=10.012, rng=FULL_SIZE_TOMOGRAM_SEED)
    picker = load_picker(None, device="cuda")
    rows, found = [], {}
    for prec in ("float32", "float16"):

        def run(prec: str = prec) -> Any:
            with precision(prec):
                return pick(vol, model=picker, voxel_size=10.012)

        seconds, found[prec] = timed(run, repeats)
        agree = matched(found["float32"], found[prec], ["z", "y", "x"])
        voxels = int(np.prod(shape))
        rows.append(
            f"| pick | {shape[0]} x {shape[1]} x {shape[2]} | {prec} | {seconds:.3f} | "
            f"{voxels / seconds / 1e6:.1f} | {len(found[prec])} ({agree:.3f}) |"
        )
        print(rows[-1], flush=True)
    return rows


def bench_train_step(patch: int, batch: int, repeats: int) -> list[str]:
    """Rows: one optimisation step of the shipped architecture, float32 and float16 AMP."""
    import torch

    from voxpick.ml.train import heatmap_loss
    from voxpick.nn.model import build_model

    rows = []
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.rand((batch, 1, patch, patch, patch), device="cuda", generator=gen)
    target = torch.rand((batch, 1, patch, patch, patch), device="cuda", generator=gen)
    for prec in ("float32", "float16"):
        torch.manual_seed(0)
        net = build_model().to("cuda").train()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
        scaler = torch.amp.GradScaler("cuda", enabled=prec == "float16")

        def step(net: Any = net, opt: Any = opt, scaler: Any = scaler, prec: str = prec) -> float:
            opt.zero_grad(set_to_none=True)
            with precision(prec):
                loss = heatmap_loss(net(x), target, 8.0)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            return float(loss.detach())

        seconds, _ = timed(step, repeats)
        rows.append(
            f"| training step | {batch} x {patch}^3 | {prec} | {seconds:.4f} | "
            f"{batch * patch**3 / seconds / 1e6:.1f} | - |"
        )
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status (0 also without CUDA)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small volumes, writes nothing")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    args = parser.parse_args(argv)
    name = cuda_device()
    if name is None:
        import torch

        print(
            f"no GPU: CUDA is not available to torch {torch.__version__}; nothing measured "
            "(voxpick runs on the CPU, where bench.benchmarks.speed measures it)."
        )
        return 0
    import torch

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    size, shape, repeats = (128, (96, 192, 192), 1) if args.quick else (256, (184, 384, 384), 3)
    rows = bench_locate(size, args.repeats if not args.quick else repeats)
    rows += bench_pick(shape, args.repeats if not args.quick else repeats)
    rows += bench_train_step(64, 2, 10 if not args.quick else 3)
    total = time.perf_counter() - t0
    print(f"done in {total:.0f} s on {name}")
    if args.quick or args.no_write:
        return 0
    body = "\n".join(
        [
            f"{name}, torch {torch.__version__} (CUDA {torch.version.cuda}); medians of "
            f"{args.repeats} runs after a warm-up. float16 is `torch.autocast('cuda', "
            "dtype=torch.float16)` around the call (the training step adds a gradient scaler). "
            "Detections: the count, and in brackets the fraction matched within one voxel to "
            "the float32 run's. Locate and pick are end to end (the CPU parts included); the "
            "training step excludes drawing the batch.",
            "",
            "| what | size | precision | median s | M voxel/s | detections (matched) |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    update_section(SECTION, body, command="python -m bench.benchmarks.gpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
