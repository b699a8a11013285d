"""Big-volume benchmark: chunked, resumable locate on a zarr volume larger than one block.

Usage (from the repository root)::

    nice -n 19 python -m bench.benchmarks.big_volume [--size 1024] [--chunks 256] [--tile 128]
    python -m bench.benchmarks.big_volume --quick   # 128^3 in 64^3 blocks; writes no docs

1. Builds a ``size``^3 uint8 zarr volume chunk by chunk, never whole in memory: a few distinct
   ``tile``^3 volumes are simulated with :func:`voxpick.simulate.simulate_volume` (radius 4 px,
   volume fraction 0.4) and written as a mosaic (tile ``(i, j, k)`` is simulated volume
   ``(i + 2 j + 3 k) mod n``). It is not one physical packing: particles cut by a tile seam are
   half-spheres next to unrelated neighbours, but the image statistics, density and the work
   per voxel are those of a real volume, and building it takes seconds instead of the hours a
   1024^3 packing would.
2. Runs :func:`voxpick.locate` on the zarr path, block by block (dask's local threads, Parquet
   output with per-block parts) **in a child process**, whose peak resident memory
   (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``) and wall time are measured.
3. Reports the throughput (voxels per second), the peak RSS and the number of particles found
   against the number simulated, and writes the section "Big volumes (chunked locate)" of
   docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common.paths import OUT as BENCH_OUT
from bench.common.paths import ROOT
from bench.common.report import update_section
from bench.common.splits import BIG_VOLUME_TILE_SEED

OUT = BENCH_OUT / "big_volume"
RADIUS = 4.0
N_TILES = 4


def build_volume(path: Path, *, size: int, tile: int) -> int:
    """Write the mosaic volume to ``path`` (zarr, chunks = tiles); return the particle count."""
    import zarr

    from voxpick.simulate import simulate_volume

    if size % tile:
        raise SystemExit(f"--size {size} must be a multiple of --tile {tile}.")
    sims = [
        simulate_volume(
            tile, radius=RADIUS, volfrac=0.4, snr=8, cnr=4, rng=BIG_VOLUME_TILE_SEED + i
        )
        for i in range(N_TILES)
    ]
    if path.exists():
        shutil.rmtree(path)
    z = zarr.open_array(str(path), mode="w", shape=(size,) * 3, chunks=(tile,) * 3, dtype="uint8")
    n = size // tile
    count = 0
    for i in range(n):
        for j in range(n):
            for k in range(n):
                sim = sims[(i + 2 * j + 3 * k) % N_TILES]
                z[
                    i * tile : (i + 1) * tile, j * tile : (j + 1) * tile, k * tile : (k + 1) * tile
                ] = sim.volume
                count += len(sim.truth)
    return count


def run_locate(path: Path, out: Path, chunks: int) -> None:
    """Child process: locate, then print a JSON line with the timing."""
    from voxpick import locate

    start = time.perf_counter()
    found = locate(
        path, diameter=2 * RADIUS, method="classical", chunks=chunks, out=out, progress=True
    )
    elapsed = time.perf_counter() - start
    info = {
        "seconds": elapsed,
        "found": len(found),
        "n_blocks": found.attrs["n_blocks"],
        "overlap": found.attrs["overlap"],
        "chunks": found.attrs["chunks"],
        "threshold": found.attrs["threshold"],
    }
    print("RESULT " + json.dumps(info), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="edge of the cube (voxels)")
    parser.add_argument("--tile", type=int, default=128, help="edge of a simulated tile")
    parser.add_argument("--chunks", type=int, default=256, help="core edge of a block")
    parser.add_argument("--no-report", action="store_true", help="do not touch the docs")
    parser.add_argument("--keep", action="store_true", help="keep the zarr volume afterwards")
    parser.add_argument("--locate-only", nargs=2, metavar=("ZARR", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--quick", action="store_true", help="128^3 in 64^3 tiles and blocks, not for docs"
    )
    args = parser.parse_args()
    if args.quick:
        args.size, args.tile, args.chunks, args.no_report = 128, 64, 64, True
    if args.locate_only:
        run_locate(Path(args.locate_only[0]), Path(args.locate_only[1]), args.chunks)
        return

    OUT.mkdir(parents=True, exist_ok=True)
    store = OUT / f"volume_{args.size}.zarr"
    out = OUT / f"particles_{args.size}.parquet"
    t0 = time.perf_counter()
    n_true = build_volume(store, size=args.size, tile=args.tile)
    build_s = time.perf_counter() - t0
    print(f"built {store} ({args.size}^3, {n_true} particles) in {build_s:.1f} s", flush=True)

    cmd = [
        sys.executable,
        "-m",
        "bench.benchmarks.big_volume",
        "--chunks",
        str(args.chunks),
        "--locate-only",
        str(store),
        str(out),
    ]
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    sys.stderr.write(proc.stderr[-2000:])
    line = next(s for s in proc.stdout.splitlines() if s.startswith("RESULT "))
    info = json.loads(line[len("RESULT ") :])
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9  # KB on Linux
    if not args.keep:
        shutil.rmtree(store)
    voxels = args.size**3
    rate = voxels / info["seconds"]
    cores = os.cpu_count()
    print(
        f"{args.size}^3: {info['seconds']:.1f} s, {rate / 1e6:.2f} Mvoxel/s, peak RSS "
        f"{peak_gb:.2f} GB, {info['found']} found / {n_true} simulated, {info['n_blocks']} blocks",
        flush=True,
    )
    if args.no_report:
        return
    row = (
        f"| {args.size}^3 | {info['n_blocks']} | {info['seconds']:.0f} | {rate / 1e6:.2f} | "
        f"{peak_gb:.2f} | {info['found']} / {n_true} |"
    )
    body = f"""
`voxpick.locate(..., chunks=...)` on a {args.size}^3 uint8 zarr volume (zarr chunks
{args.tile}^3, {voxels / 1e9:.2f} G voxels), classical method, diameter 8 px, blocks of
{info["chunks"][0]}^3 voxels plus a halo of {tuple(info["overlap"])} voxels (z, y, x; the z
halo covers the deconvolution of the measured z blur), dask's local threaded
scheduler ({cores} cores, shared with other jobs, run under `nice -n 19`), per-block Parquet
parts. The volume is a mosaic of {N_TILES} simulated {args.tile}^3 volumes (radius 4 px, volume
fraction 0.4, SNR 8, CNR 4), built chunk by chunk (see the script's docstring). Peak RSS is the
locating process's `ru_maxrss`. More particles are found than simulated because particles cut by
a tile seam leave partial blobs next to an unrelated tile.

| volume | blocks | wall time (s) | throughput (M voxel/s) | peak RSS (GB) | found / simulated |
|---|---|---|---|---|---|
{row}

Machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}. Memory is set
by the block size and the number of threads, not by the volume: each thread holds one block
(about 30 bytes per voxel of a block with its halo).
"""
    update_section(
        "Big volumes (chunked locate)",
        body,
        command=f"nice -n 19 python -m bench.benchmarks.big_volume --size {args.size}",
    )


if __name__ == "__main__":
    main()
