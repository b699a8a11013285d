"""Run any detector block by block: volumes of any size, in bounded memory, resumable.

:func:`run_detector` takes a detector of the contract (:mod:`voxpick.detect.contract`) and the
parameters its ``estimate`` step fixed for the whole volume, cuts the volume into blocks
(:mod:`voxpick.tiling.blocks`) with the halo the detector asks for, runs its ``find`` step on each
block (one ``dask.delayed`` task each, on dask's local threaded scheduler or a
``dask.distributed`` cluster), keeps what each block's core owns, and runs its ``finish`` step
on the merged candidates. With an output path, every finished block is saved at once
(:mod:`voxpick.tiling.parts`) so that a killed run resumes where it stopped. A volume in one
block runs without dask. It knows no detector by name. See ``docs/scale.md``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpick import __version__
from voxpick.detect.contract import Detector, Setup, public_params
from voxpick.detect.schema import conform, sort_by_score
from voxpick.io.atomic import stale_temporaries
from voxpick.io.positions import write_positions
from voxpick.io.source import VolumeSource
from voxpick.tiling.blocks import (
    Block,
    check_block_size,
    plan_blocks,
    resolve_chunks,
    resolve_overlap,
)
from voxpick.tiling.parts import PartStore, block_digest, parts_dir_for

#: Key prefix of the per-block dask tasks (the progress bar counts them).
TASK_PREFIX = "voxpick-block"

_LOCAL = {"threads": "threads", "threading": "threads", "sync": "sync", "synchronous": "sync"}


def find_in_block(
    data: np.ndarray, *, block: Block, detector: Detector, setup: Setup, params: dict[str, Any]
) -> pd.DataFrame:
    """Candidates of one block that its core owns, in volume voxels.

    Parameters
    ----------
    data : numpy.ndarray
        The block's voxels (``block.outer`` of the volume).
    block : Block
    detector : Detector
    setup : Setup
    params : dict
        From ``detector.estimate``.

    Returns
    -------
    pandas.DataFrame
    """
    table = detector.find(data, setup, params, box=block.outer).reset_index(drop=True)
    for axis, start in zip(("z", "y", "x"), block.outer_start, strict=True):
        table[axis] = table[axis].to_numpy(dtype=float) + start
    keep = block.owns(table[["z", "y", "x"]].to_numpy(dtype=float), setup.shape)
    return table[keep].reset_index(drop=True)


def _block_task(
    data: Any,
    *,
    block: Block,
    detector: Detector,
    setup: Setup,
    params: dict[str, Any],
    store: PartStore | None,
) -> pd.DataFrame | int:
    """Run one block: find, keep what the core owns, save it when resumable."""
    arr = data.read(block.outer) if isinstance(data, VolumeSource) else np.asarray(data)
    table = find_in_block(arr, block=block, detector=detector, setup=setup, params=params)
    if store is None:
        return table
    store.write(block.name, table, input_hash=block_digest(arr))
    return len(table)


class OutputInUseError(OSError, RuntimeError):
    """Another run holds the output's lock (an ``OSError``: the CLI prints it as one line)."""


@contextlib.contextmanager
def _output_lock(out: Path | None) -> Iterator[None]:
    """Hold ``.OUT.lock`` for the whole run, so two runs never write one output."""
    if out is None:
        yield
        return
    from filelock import FileLock, Timeout

    out.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out.with_name(f".{out.name}.lock")))
    owner = out.with_name(f".{out.name}.lock.json")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        try:
            who = json.loads(owner.read_text())
            other = f"pid {who['pid']} on {who['host']}, started {who['started']}"
        except (OSError, ValueError, KeyError):
            other = "another process"
        raise OutputInUseError(
            f"{out} is being written by another voxpick run ({other}): wait for it to finish, "
            "or choose another output path."
        ) from None
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.ctime()}
        owner.write_text(json.dumps(info) + "\n")
        for stale in stale_temporaries(out.parent, out.name):  # a killed final write
            stale.unlink(missing_ok=True)
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()


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
        try:
            from distributed import Client
        except ImportError as err:
            raise ImportError(
                f"scheduler={scheduler!r} needs distributed: pip install 'voxpick[cluster]' "
                "(or pip install distributed), or leave scheduler=None for local threads.",
                name="distributed",
            ) from err

        own = Client(scheduler)
        try:
            yield own
        finally:
            own.close()
    elif kind == "client":
        yield client if client is not None else scheduler
    else:
        yield None


def _progress_bar(enabled: bool, total: int, done: int, description: str = "blocks") -> Any:
    from voxpick.progress import progress_display  # a terminal or Jupyter (voxpick.progress)

    bar = progress_display(enabled=enabled)
    task = bar.add_task(description, total=total, completed=done)
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
    try:
        from distributed import as_completed
    except ImportError as err:
        raise ImportError(
            "a dask cluster run needs distributed: pip install 'voxpick[cluster]' "
            "(or pip install distributed).",
            name="distributed",
        ) from err

    futures = client.compute(tasks)
    try:
        for future in as_completed(futures):
            if future.status == "error":
                future.result()  # raises the block's exception here
            advance()
        return list(client.gather(futures))
    finally:
        client.cancel(futures)


def _options(detector: Detector) -> dict[str, Any]:
    """Return the detector's options as plain values (sub-detectors described in turn)."""
    out: dict[str, Any] = {}
    for key, value in sorted(vars(detector).items()):
        out[key] = _options(value) if isinstance(value, Detector) else value
    return out


def run_attrs(detector: Detector, setup: Setup, params: dict[str, Any]) -> dict[str, Any]:
    """Return the ``attrs`` every detection table carries (before the detector's own figures).

    Parameters
    ----------
    detector : Detector
    setup : Setup
    params : dict
        From ``detector.estimate``.

    Returns
    -------
    dict
    """
    return {
        "method": detector.name,
        "detector": detector.name,
        "diameter_px": setup.diameter_px,
        "invert": setup.invert,
        "shape": setup.shape,
        "params": json.loads(json.dumps(public_params(params), default=str)),
        "voxpick_version": __version__,
    }


def run_detector(
    source: VolumeSource,
    detector: Detector,
    setup: Setup,
    params: dict[str, Any],
    *,
    chunks: Any = None,
    overlap: Any = None,
    scheduler: Any = None,
    client: Any = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = False,
    attrs: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Run a detector over a volume block by block and finish it on the merged candidates.

    Parameters
    ----------
    source : VolumeSource
        The volume (:func:`voxpick.io.source.open_volume`).
    detector : Detector
        Any detector of the contract.
    setup : Setup
        Diameter in voxels, polarity and the volume's shape.
    params : dict
        ``detector.estimate(source, setup)``.
    chunks : int or sequence of 3 int, optional
        Core edge of a block in voxels (z, y, x), rounded up to the detector's alignment;
        default 256.
    overlap : int or sequence of 3 int, optional
        Halo around each core, voxels per axis, at least one diameter; default the detector's
        context, so that block results equal whole-volume results.
    scheduler : str or distributed.Client, optional
        ``None``/``"threads"`` (local threads), ``"synchronous"``, ``"tcp://host:port"`` (a
        ``dask.distributed`` scheduler) or a ``distributed.Client``.
    client : distributed.Client, optional
        Same as passing the client as ``scheduler``.
    out : str or os.PathLike, optional
        Write the result here (``.csv`` or ``.parquet``, atomically) and keep per-block parts
        in ``OUT.parts/`` until it is written: a rerun after a crash skips finished blocks.
    progress : bool
        Show a progress bar of finished blocks (stderr).
    attrs : dict, optional
        More ``attrs`` for the result (the caller's description of the run).

    Returns
    -------
    pandas.DataFrame
        The detection schema, sorted by decreasing score; ``attrs`` as :func:`run_attrs`, the
        detector's figures, ``attrs``, and ``chunks``, ``overlap``, ``n_blocks``.
    """
    kind = _scheduler_kind(scheduler, client)
    out_path = _check_out(out)
    context, align = detector.context(setup, params)
    core = resolve_chunks(chunks, source.shape, align=align)
    halo = resolve_overlap(overlap, default=context, diameter_px=setup.diameter_px, align=align)
    check_block_size(
        chunks, core=core, halo=halo, shape=source.shape, diameter_px=setup.diameter_px,
        align=align,
    )  # fmt: skip
    blocks = plan_blocks(source.shape, chunks=core, overlap=halo)

    with _output_lock(out_path):
        store = None
        if out_path is not None:
            manifest = {
                "input": source.description,
                "shape": source.shape,
                "dtype": str(source.dtype),
                "detector": detector.name,
                "options": _options(detector),
                "setup": vars(setup),
                "params": public_params(params),
                "chunks": core,
                "overlap": halo,
                "voxpick_version": __version__,
            }
            store = PartStore(parts_dir_for(out_path), manifest)
        done = _reusable_parts(source, blocks, store)
        pending = [b for b in blocks if b.name not in done]
        task: dict[str, Any] = {
            "detector": detector, "setup": setup, "params": params, "store": store,
        }  # fmt: skip
        bar, bar_task = _progress_bar(progress, len(blocks), len(blocks) - len(pending))
        results: dict[str, Any] = {}
        with bar:
            if len(pending) == 1 and kind in ("threads", "sync") and not source.is_dask:
                results[pending[0].name] = _block_task(source, block=pending[0], **task)
                bar.advance(bar_task)
            elif pending:
                results = _run_dask(source, pending, task, kind, scheduler, client, bar, bar_task)
        tables = []
        for b in blocks:
            if b.name in done:
                tables.append(done[b.name])
            elif store is not None:
                tables.append(store.read(b.name))
            else:
                tables.append(results[b.name])
        final = _finish(tables, detector, setup, params, attrs)
        final.attrs.update(chunks=core, overlap=halo, n_blocks=len(blocks))
        if out_path is not None and store is not None:
            write_positions(out_path, final)
            store.remove()
    return final


def _reusable_parts(
    source: VolumeSource, blocks: list[Block], store: PartStore | None
) -> dict[str, pd.DataFrame]:
    """Parts of an interrupted run that read back and match their block's voxels now."""
    if store is None:
        return {}
    done = {}
    for b in blocks:
        if store.has(b.name):
            table = store.load(b.name, input_hash=block_digest(source.read(b.outer)))
            if table is not None:
                done[b.name] = table
    return done


def _finish(
    tables: list[pd.DataFrame],
    detector: Detector,
    setup: Setup,
    params: dict[str, Any],
    attrs: dict[str, Any] | None,
) -> pd.DataFrame:
    """Merge the blocks' candidates, finish them, and describe the run in ``attrs``."""
    merged = pd.concat(tables, ignore_index=True)
    found = detector.finish(merged, setup, params)
    final = sort_by_score(conform(found, detector.columns))
    final.attrs.clear()
    final.attrs.update(run_attrs(detector, setup, params))
    final.attrs.update(found.attrs)
    final.attrs.update(attrs or {})
    return final


def _run_dask(
    source: VolumeSource,
    pending: list[Block],
    task: dict[str, Any],
    kind: str,
    scheduler: Any,
    client: Any,
    bar: Any,
    bar_task: Any,
) -> dict[str, Any]:
    """Run the pending blocks as dask tasks; their results by block name."""
    import dask

    run_id = uuid.uuid4().hex[:8]
    names = [f"{TASK_PREFIX}-{b.name}-{run_id}" for b in pending]
    with _client_for(kind, scheduler, client) as cl:
        data_ref: Any = source
        if cl is not None and not source.is_dask and source.array is not None:
            data_ref = cl.scatter(source, broadcast=False)  # in-memory array: ship it once
        tasks = []
        for block, name in zip(pending, names, strict=True):
            data = source.lazy_block(block.outer) if source.is_dask else data_ref
            tasks.append(
                dask.delayed(_block_task, pure=False)(data, block=block, **task, dask_key_name=name)
            )

        def advance() -> None:
            bar.advance(bar_task)

        if cl is None:
            values = _run_local(tasks, names, kind, advance)
        else:
            values = _run_distributed(tasks, cl, advance)
    return {b.name: v for b, v in zip(pending, values, strict=True)}
