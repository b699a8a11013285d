"""Big-volume benchmark: chunked, resumable locate on a zarr volume larger than one block.

Usage (from the repository root)::

    nice -n 19 python -m bench.benchmarks.big_volume [--size 1024] [--method classical auto]
        [--cluster] [--chunks N] [--tile 128]
        [--method auto:unet_colloids_fast_v1]   # auto with another model
    python -m bench.benchmarks.big_volume --quick   # 128^3 in 64^3 blocks; writes no docs

1. Builds a ``size``^3 uint8 zarr volume chunk by chunk, never whole in memory: a few distinct
   ``tile``^3 volumes are simulated with :func:`voxpick.simulate.simulate_volume` (radius 4 px,
   volume fraction 0.4) and written as a mosaic (tile ``(i, j, k)`` is simulated volume
   ``(i + 2 j + 3 k) mod n``). It is not one physical packing: particles cut by a tile seam are
   half-spheres next to unrelated neighbours, but the image statistics, density and the work
   per voxel are those of a real volume, and building it takes seconds instead of the hours a
   1024^3 packing would.
2. Runs :func:`voxpick.locate` with each ``--method`` on the zarr path, block by block (dask's
   local threads, and with ``--cluster`` also a ``dask.distributed.LocalCluster``; Parquet
   output with per-block parts) **in a child process**, whose wall time and peak resident
   memory (summed with its worker processes, sampled with psutil) are measured.
3. Reports the throughput (voxels per second), the peak RSS and the number of particles found
   against the number simulated, and writes the section "Big volumes (chunked locate)" of
   docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


HEADER = (
    "| volume | method (detector kept) | scheduler | block core + halo | blocks | wall time (s) "
    "| throughput (M voxel/s) | peak RSS (GB) | found / simulated |\n"
    "|---|---|---|---|---|---|---|---|---|"
)

#: Default block core edge per method.
CHUNKS = {"classical": 256, "auto": 256, "unet": 256}

#: Network window edge (``tile``) of the learned detectors: the block's core plus 64 voxels, so
#: that each block (core plus halo, 328 x 304 x 304 voxels at 256) is one window and no margin
#: is predicted twice; the network's buffers then take about 1.4 GB (OpenVINO, the default U-Net).
TILE_OVER_CHUNKS = 64


def method_spec(text: str) -> str:
    """``--method`` value: a method of :data:`CHUNKS`, optionally ``:MODEL`` for a learned one."""
    method, _, model = text.partition(":")
    if method not in CHUNKS or (model and method == "classical"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected one of {sorted(CHUNKS)}, or auto:MODEL / unet:MODEL"
        )
    return text


def run_locate(path: Path, out: Path, chunks: int, method: str, cluster: bool) -> None:
    """Child process: locate, then print a JSON line with the timing."""
    from voxpick import locate

    client = None
    if cluster:  # the same machine as a dask.distributed cluster: 2 worker processes
        from distributed import Client, LocalCluster

        cores = os.cpu_count() or 1
        client = Client(LocalCluster(n_workers=cores, threads_per_worker=1, processes=True))
    start = time.perf_counter()
    method, _, model = method.partition(":")  # "auto:NAME": auto with the model NAME
    learned: dict[str, Any] = {"tile": chunks + TILE_OVER_CHUNKS} if method != "classical" else {}
    if model:
        learned["model"] = model
    found = locate(
        path, diameter=2 * RADIUS, method=method, chunks=chunks, out=out, progress=True,
        client=client, **learned,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if client is not None:
        client.close()
    info = {
        "seconds": elapsed,
        "found": len(found),
        "n_blocks": found.attrs["n_blocks"],
        "overlap": found.attrs["overlap"],
        "chunks": found.attrs["chunks"],
        "detector": found.attrs.get("detector", method),  # the detector kept
    }
    print("RESULT " + json.dumps(info), flush=True)


def peak_rss_gb(pid: int) -> float:
    """Largest summed RSS (GB) of a process and its children, sampled until it ends."""
    import psutil

    peak = 0.0
    proc = psutil.Process(pid)
    while proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
        try:
            procs = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs) / 1e9)
        except psutil.Error:
            pass
        time.sleep(0.2)
    return peak


def locate_in_child(
    store: Path, out: Path, args: argparse.Namespace, method: str, cluster: bool
) -> tuple[dict[str, Any], float]:
    """Locate in a child process; its result line and peak RSS (GB, with its workers)."""
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    parts = out.with_name(out.name + ".parts")
    if parts.exists():
        shutil.rmtree(parts)
    cmd = [sys.executable, "-m", "bench.benchmarks.big_volume", "--method", method]
    cmd += ["--chunks", str(args.chunks)] if args.chunks else []
    cmd += ["--on-cluster"] if cluster else []
    cmd += ["--locate-only", str(store), str(out)]
    with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, text=True, cwd=ROOT)
        peak = peak_rss_gb(proc.pid)  # files, not pipes: a full pipe would stall the child
        proc.wait()
        so.seek(0)
        se.seek(0)
        stdout, stderr = so.read(), se.read()
    sys.stderr.write(stderr[-2000:])
    if proc.returncode:
        raise SystemExit(f"locating failed (exit {proc.returncode})")
    line = next(s for s in stdout.splitlines() if s.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :]), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="edge of the cube (voxels)")
    parser.add_argument("--tile", type=int, default=128, help="edge of a simulated tile")
    parser.add_argument("--chunks", type=int, default=None, help="core edge of a block")
    parser.add_argument(
        "--method", nargs="+", default=["classical"], type=method_spec,
        help="detectors to run, one row each (auto:MODEL or unet:MODEL: another model)",
    )  # fmt: skip
    parser.add_argument(
        "--cluster", action="store_true",
        help="also run each on a dask.distributed LocalCluster (one worker per core)",
    )  # fmt: skip
    parser.add_argument("--no-report", action="store_true", help="do not touch the docs")
    parser.add_argument("--keep", action="store_true", help="keep the zarr volume afterwards")
    parser.add_argument("--locate-only", nargs=2, metavar=("ZARR", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--on-cluster", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--quick", action="store_true", help="128^3 in 64^3 tiles and blocks, not for docs"
    )
    args = parser.parse_args()
    if args.quick:
        args.size, args.tile, args.chunks, args.no_report = 128, 64, 64, True
    if args.locate_only:
        method = args.method[0]
        chunks = args.chunks or CHUNKS[method.partition(":")[0]]
        run_locate(Path(args.locate_only[0]), Path(args.locate_only[1]), chunks, method,
                   args.on_cluster)  # fmt: skip
        return

    load = os.getloadavg()[0]
    OUT.mkdir(parents=True, exist_ok=True)
    store = OUT / f"volume_{args.size}.zarr"
    out = OUT / f"particles_{args.size}.parquet"
    t0 = time.perf_counter()
    n_true = build_volume(store, size=args.size, tile=args.tile)
    build_s = time.perf_counter() - t0
    print(f"built {store} ({args.size}^3, {n_true} particles) in {build_s:.1f} s", flush=True)

    rows = []
    for method in args.method:
        for cluster in (False, True) if args.cluster else (False,):
            info, peak_gb = locate_in_child(store, out, args, method, cluster)
            rate = args.size**3 / info["seconds"]
            where = "LocalCluster, 2 processes" if cluster else "local threads"
            print(
                f"{args.size}^3 {method} ({info['detector']}), {where}: {info['seconds']:.1f} s, "
                f"{rate / 1e6:.2f} Mvoxel/s, peak RSS {peak_gb:.2f} GB, {info['found']} found / "
                f"{n_true} simulated, {info['n_blocks']} blocks",
                flush=True,
            )
            rows.append(
                f"| {args.size}^3 | {method} ({info['detector']}) | {where} | "
                f"{info['chunks'][0]} + {tuple(info['overlap'])} | {info['n_blocks']} | "
                f"{info['seconds']:.0f} | {rate / 1e6:.2f} | {peak_gb:.2f} | "
                f"{info['found']} / {n_true} |"
            )
    if not args.keep:
        shutil.rmtree(store)
    voxels = args.size**3
    cores = os.cpu_count()
    if args.no_report:
        return
    body = f"""
`voxpick.locate(..., chunks=...)` on a {args.size}^3 uint8 zarr volume (zarr chunks
{args.tile}^3, {voxels / 1e9:.2f} G voxels), diameter 8 px, blocks of the given core edge plus
the detector's halo (z, y, x; the classical z halo covers the deconvolution of the measured z
blur; the learned detectors with `tile` = core + {TILE_OVER_CHUNKS}, one network window per
block), per-block Parquet parts, on dask's local threads or a `dask.distributed.LocalCluster` of
one single-threaded worker process per core ({cores} cores, load average {load:.1f} when it
started, run under `nice -n 19`). The volume is a mosaic of {N_TILES} simulated
{args.tile}^3 volumes (radius 4 px, volume fraction 0.4, SNR 8, CNR 4), built chunk by chunk
(see the script's docstring). Peak RSS is the largest summed resident memory of the locating
process and its children (sampled every 0.2 s). More particles are found than simulated
because particles cut by a tile seam leave partial blobs next to an unrelated tile.

{HEADER}
{chr(10).join(rows)}

Machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}. Memory is set
by the block size and the number of workers, not by the volume. The learned detectors' network
runs one block at a time per process (`voxpick.nn.runtime`), using every core.
"""
    update_section(
        "Big volumes (chunked locate)",
        body,
        command=f"nice -n 19 python -m bench.benchmarks.big_volume --size {args.size} "
        f"--method {' '.join(args.method)}{' --cluster' if args.cluster else ''}",
    )


if __name__ == "__main__":
    main()
