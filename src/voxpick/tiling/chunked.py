"""``locate_chunked``: find particles in a volume of any size, block by block, with dask.

See ``docs/scale.md``. The volume is cut into blocks (:mod:`voxpick.tiling.blocks`), global
parameters are estimated once (:mod:`voxpick.tiling.params`), every block is one
``dask.delayed`` task run on dask's local threaded scheduler or on a ``dask.distributed``
cluster, and, when an output path is given, every finished block is saved at once
(:mod:`voxpick.tiling.parts`) so that a killed run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpick.detect.classical import filter_sigma, resolve_diameter
from voxpick.detect.locate import METHODS
from voxpick.io.positions import write_positions
from voxpick.tiling.blocks import Block, plan_blocks, resolve_chunks, resolve_overlap
from voxpick.tiling.params import (
    background_cell,
    central_crop,
    classical_context,
    estimate_classical,
    finish_classical,
    unet_context,
)
from voxpick.tiling.parts import PartStore, parts_dir_for
from voxpick.tiling.source import VolumeSource, open_volume

#: Key prefix of the per-block dask tasks (the progress bar counts them).
TASK_PREFIX = "voxpick-block"

_LOCAL = {"threads": "threads", "threading": "threads", "sync": "sync", "synchronous": "sync"}


def _detect_block(data: np.ndarray, *, method: str, kwargs: dict[str, Any]) -> pd.DataFrame:
    """Run the detector on one block (a seam that tests can replace to simulate a crash)."""
    return METHODS[method](data, **kwargs)


def auto_sample_edge(diameter_px: tuple[float, float, float]) -> int:
    """Edge of the central crop ``method="auto"`` decides on: 8 diameters, at least 128."""
    return max(128, int(np.ceil(8 * max(diameter_px))))


def _resolve_auto(
    source: VolumeSource,
    diameter_px: tuple[float, float, float],
    *,
    diameter: Any,
    voxel_size: Any,
    invert: bool,
    kwargs: dict[str, Any],
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Pick the detector for ``method="auto"`` on the central crop; its kwargs; the attrs."""
    from voxpick.detect.auto import DENSE_VOLFRAC, choose_method

    options = dict(kwargs)
    cut = options.pop("dense_volfrac", DENSE_VOLFRAC)
    sample = central_crop(source, auto_sample_edge(diameter_px))
    chosen, phi, _ = choose_method(
        sample, diameter=diameter, voxel_size=voxel_size, invert=invert, dense_volfrac=cut,
        **options,
    )  # fmt: skip
    block_kwargs = options if chosen == "unet" else {}
    return chosen, block_kwargs, {"unet_volume_fraction": phi, "auto_sample_shape": sample.shape}


def _auto_crowded(
    source: VolumeSource,
    diameter_px: tuple[float, float, float],
    common: dict[str, Any],
    unet_kwargs: dict[str, Any],
    auto_attrs: dict[str, Any],
    out_path: Path | None,
) -> pd.DataFrame:
    """``method="auto"`` on a crowded volume: both detectors block by block, then merged."""
    from voxpick.detect.auto import merge_crowded

    unet = locate_chunked(source, method="unet", **common, **unet_kwargs)
    classical = locate_chunked(source, method="classical", **common)
    final = merge_crowded(unet, classical, diameter_px=diameter_px, unet_options=unet_kwargs)
    final.attrs.update(unet.attrs)
    final.attrs.update(auto_attrs)
    final.attrs["method"] = "unet"
    if out_path is not None:
        write_positions(out_path, final)
    return final


def _block_task(
    data: Any,
    *,
    block: Block,
    shape: tuple[int, int, int],
    method: str,
    kwargs: dict[str, Any],
    store: PartStore | None,
) -> pd.DataFrame | int:
    """Detect in one block, keep what its core owns, save it; the task every block runs."""
    arr = data.read(block.outer) if isinstance(data, VolumeSource) else np.asarray(data)
    found = _detect_block(arr, method=method, kwargs=kwargs)
    table = found.reset_index(drop=True)
    for axis, start in zip(("z", "y", "x"), block.outer_start, strict=True):
        table[axis] = table[axis].to_numpy(dtype=float) + start
    keep = block.owns(table[["z", "y", "x"]].to_numpy(), shape)
    table = table[keep].reset_index(drop=True)
    if store is None:
        return table
    store.write(block.name, table)
    return len(table)


def _check_out(out: Any) -> Path | None:
    if out is None:
        return None
    if not isinstance(out, str | os.PathLike):
        raise TypeError(f"out={out!r} is not a path: expected a .csv or .parquet file name.")
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ValueError(
            f"out={str(path)!r} has suffix {path.suffix!r}: expected .csv or .parquet, e.g. "
            "out='particles.csv'."
        )
    if suffix != ".csv" and importlib.util.find_spec("pyarrow") is None:
        raise ImportError(
            f"out={str(path)!r}: writing Parquet needs pyarrow, which is not installed. Install "
            "it with `pip install pyarrow`, or use a .csv output."
        )
    return path


def _scheduler_kind(scheduler: Any, client: Any) -> str:
    """Classify the scheduler: ``"threads"``, ``"sync"``, ``"address"`` or ``"client"``."""
    if client is not None:
        if not hasattr(client, "compute") or not hasattr(client, "scatter"):
            raise TypeError(f"client={client!r} is not a distributed.Client.")
        return "client"
    if scheduler is None:
        return "threads"
    if isinstance(scheduler, str) and scheduler in _LOCAL:
        return _LOCAL[scheduler]
    if isinstance(scheduler, str) and "://" in scheduler:
        return "address"
    if type(scheduler).__name__ == "Client" and hasattr(scheduler, "compute"):
        return "client"
    raise ValueError(
        f"scheduler={scheduler!r} is not usable: expected None or 'threads' (local threads), "
        "'synchronous' (one thread, for debugging), a dask.distributed scheduler address such "
        "as 'tcp://10.0.0.1:8786', or a distributed.Client."
    )


@contextlib.contextmanager
def _client_for(kind: str, scheduler: Any, client: Any) -> Iterator[Any]:
    """Yield the ``distributed.Client`` to use (``None`` for dask's local scheduler)."""
    if kind == "address":
        from distributed import Client

        own = Client(scheduler)
        try:
            yield own
        finally:
            own.close()
    elif kind == "client":
        yield client if client is not None else scheduler
    else:
        yield None


def _progress_bar(enabled: bool, total: int, done: int) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
    task = bar.add_task("blocks", total=total, completed=done)
    return bar, task


def _run_local(tasks: list[Any], names: list[str], scheduler: str, advance: Any) -> list[Any]:
    import dask
    from dask.callbacks import Callback

    wanted = set(names)

    class _Count(Callback):
        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker: Any) -> None:
            if key in wanted:
                advance()

    with _Count():
        return list(dask.compute(*tasks, scheduler=scheduler))


def _run_distributed(tasks: list[Any], client: Any, advance: Any) -> list[Any]:
    from distributed import as_completed

    futures = client.compute(tasks)
    try:
        for future in as_completed(futures):
            if future.status == "error":
                future.result()  # raises the block's exception here
            advance()
        return list(client.gather(futures))
    finally:
        client.cancel(futures)


def _fingerprint(source: VolumeSource) -> str:
    """Short hash of the central crop, so a resume refuses parts computed from other data."""
    crop = np.ascontiguousarray(central_crop(source, edge=32))
    return hashlib.sha1(crop.tobytes()).hexdigest()[:16]


def locate_chunked(
    volume: Any,
    *,
    diameter: Any,
    voxel_size: Any = 1,
    method: str = "auto",
    invert: bool = False,
    chunks: Any = None,
    overlap: Any = None,
    scheduler: Any = None,
    client: Any = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
    **method_kwargs: Any,
) -> pd.DataFrame:
    """Find every particle in a volume of any size, block by block, in bounded memory.

    Parameters
    ----------
    volume : array_like, dask.array.Array, zarr.Array, str or os.PathLike
        The 3D (z, y, x) volume: a numpy, dask or zarr array, or the path of a zarr store,
        an OME-Zarr image (level 0 is used), a TIFF or ``.npy`` file (memory mapped when
        uncompressed) or any file :func:`voxpick.io.read_volume` reads.
    diameter : float or sequence of 3 float
        Particle diameter in the units of ``voxel_size`` (voxels by default), as for
        :func:`voxpick.locate`.
    voxel_size : float or sequence of 3 float
        Voxel size per axis (z, y, x).
    method : str
        ``"auto"``, ``"classical"`` or ``"unet"`` (see :func:`voxpick.locate`). ``"auto"``
        decides once for the whole volume, on its central crop (:func:`auto_sample_edge`); on
        a crowded volume it runs the U-Net and then the classical detector over all blocks
        and adds the classical detections the U-Net missed, as the whole-volume run does (not
        resumable: pass ``method="unet"`` for that).
    invert : bool
        Particles are darker than the background.
    chunks : int or sequence of 3 int, optional
        Core edge of a block in voxels (z, y, x); default 256. For the classical method it is
        rounded up to a multiple of half a diameter (the local-background grid).
    overlap : int or sequence of 3 int, optional
        Halo around each core, voxels per axis; at least one diameter. Default: one diameter
        plus the method's context, so that block results equal whole-volume results (about
        2.25 diameters + 2 voxels for the classical method, more along z when it
        deconvolves a strong z blur; 2.5 diameters + 4 for the U-Net).
    scheduler : str or distributed.Client, optional
        ``None`` or ``"threads"``: dask's local threaded scheduler; ``"synchronous"``: one
        thread; ``"tcp://host:port"``: connect to that ``dask.distributed`` scheduler (its
        workers must see ``volume`` and ``out`` at the same paths); or a
        ``distributed.Client``.
    client : distributed.Client, optional
        Same as passing the client as ``scheduler``.
    out : str or os.PathLike, optional
        Write the result here (``.csv`` or ``.parquet``, atomically) and keep per-block parts
        in ``OUT.parts/`` until it is written: a rerun after a crash skips finished blocks.
    progress : bool
        Show a progress bar of finished blocks (stderr).
    **method_kwargs
        Passed to the method (e.g. ``threshold``, ``separation``, ``noise``, ``z_blur``,
        ``filter_scale`` for the classical one). Classical ``noise``, ``z_blur`` and the
        automatic ``threshold`` are estimated once for the whole volume, not per block.

    Returns
    -------
    pandas.DataFrame
        The method's table (``z, y, x, score, ...``, volume voxels), sorted by decreasing
        score; ``attrs`` records the global parameters, the volume ``shape``, ``chunks``,
        ``overlap`` and ``n_blocks``.

    Raises
    ------
    ValueError
        Unknown method, bad ``chunks``/``overlap``/``scheduler``, ``min_score`` (not
        available block by block), or an ``OUT.parts`` directory left by a different run.

    Examples
    --------
    >>> from voxpick.simulate import simulate_volume
    >>> sim = simulate_volume(48, radius=3, volfrac=0.3, rng=0)
    >>> found = locate_chunked(sim.volume, diameter=6, chunks=24, progress=False)
    >>> found.attrs["n_blocks"], list(found.columns[:4])
    (8, ['z', 'y', 'x', 'score'])
    """
    if method_kwargs.get("min_score") is not None:
        raise ValueError(
            "min_score= is not available block by block (dask, zarr, --chunks): the threshold "
            "is chosen for the whole volume after all blocks. Locate an in-memory numpy array, "
            "or leave min_score out."
        )
    import dask

    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(
            f"method={method!r} is unknown: expected one of {sorted(METHODS)}. "
            "Use method='auto' (the default)."
        )
    kind = _scheduler_kind(scheduler, client)
    out_path = _check_out(out)
    source = open_volume(volume)
    d_px = resolve_diameter(source.shape, diameter, voxel_size)
    auto_attrs: dict[str, Any] = {}
    if method == "auto":
        method, method_kwargs, auto_attrs = _resolve_auto(
            source, d_px, diameter=diameter, voxel_size=voxel_size, invert=invert,
            kwargs=method_kwargs,
        )  # fmt: skip
        if method == "unet":  # crowded: the U-Net pass, the classical pass, then add_missed
            common = {
                "diameter": diameter, "voxel_size": voxel_size, "invert": invert,
                "chunks": chunks, "overlap": overlap, "scheduler": scheduler, "client": client,
                "progress": progress,
            }  # fmt: skip
            return _auto_crowded(source, d_px, common, method_kwargs, auto_attrs, out_path)
    if method == "classical":
        block_kwargs, globals_ = estimate_classical(
            source,
            d_px,
            diameter=diameter,
            voxel_size=voxel_size,
            invert=invert,
            kwargs=method_kwargs,
        )
        align = background_cell(d_px)
        context = classical_context(
            d_px, filter_scale=globals_["filter_scale"], z_blur=globals_["z_blur"]
        )
    else:
        block_kwargs, globals_ = dict(method_kwargs), {}
        align, context = (1, 1, 1), unet_context(d_px)
    core = resolve_chunks(chunks, source.shape, align=align)
    halo = resolve_overlap(overlap, default=context, diameter_px=d_px, align=align)
    blocks = plan_blocks(source.shape, chunks=core, overlap=halo)
    kwargs = {"diameter": diameter, "voxel_size": voxel_size, "invert": invert, **block_kwargs}

    store = None
    if out_path is not None:
        manifest = {
            "input": source.description,
            "input_sample": _fingerprint(source),
            "shape": source.shape,
            "dtype": str(source.dtype),
            "method": method,
            "kwargs": kwargs,
            "chunks": core,
            "overlap": halo,
        }
        store = PartStore(parts_dir_for(out_path), manifest)
    pending = [b for b in blocks if store is None or not store.done(b.name)]

    run_id = uuid.uuid4().hex[:8]
    names = [f"{TASK_PREFIX}-{b.name}-{run_id}" for b in pending]
    bar, bar_task = _progress_bar(progress, len(blocks), len(blocks) - len(pending))
    results: dict[str, Any] = {}
    with _client_for(kind, scheduler, client) as cl, bar:
        data_ref: Any = source
        if cl is not None and not source.is_dask and source.array is not None:
            data_ref = cl.scatter(source, broadcast=False)  # in-memory array: ship it once
        tasks = []
        for block, name in zip(pending, names, strict=True):
            data = source.lazy_block(block.outer) if source.is_dask else data_ref
            tasks.append(
                dask.delayed(_block_task, pure=False)(
                    data,
                    block=block,
                    shape=source.shape,
                    method=method,
                    kwargs=kwargs,
                    store=store,
                    dask_key_name=name,
                )
            )

        def advance() -> None:
            bar.advance(bar_task)

        if tasks:
            if cl is None:
                values = _run_local(tasks, names, kind, advance)
            else:
                values = _run_distributed(tasks, cl, advance)
            results = {b.name: v for b, v in zip(pending, values, strict=True)}

    tables = [store.read(b.name) if store is not None else results[b.name] for b in blocks]
    merged = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    merged = merged.astype(dict.fromkeys(merged.columns, float))
    attrs: dict[str, Any] = {"method": method, "diameter_px": d_px, **auto_attrs}
    if method == "classical":
        merged, threshold = finish_classical(merged, globals_, shape=source.shape, diameter_px=d_px)
        attrs.update(
            threshold=threshold,
            noise=globals_["noise"],
            filter_sigma_px=filter_sigma(globals_["filter_scale"], d_px),
            z_blur_px=globals_["z_blur"],
        )
    order = np.argsort(-merged["score"].to_numpy(), kind="stable")
    final = merged.iloc[order].reset_index(drop=True)
    final.attrs = {
        **{str(k): v for k, v in attrs.items()},
        "shape": source.shape,
        "chunks": core,
        "overlap": halo,
        "n_blocks": len(blocks),
    }
    if out_path is not None and store is not None:
        write_positions(out_path, final)
        store.remove()
    return final
