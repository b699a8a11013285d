"""Time series: :func:`batch` locates every frame of a (t, z, y, x) series, resumably.

Each frame is located by :func:`voxpick.locate` with the same options, so everything a
detector estimates once per volume (noise, z blur, threshold, the choice of ``method="auto"``)
is estimated again for each frame: frames of one series can differ (bleaching, drift in focus,
a sample that crystallises), and a frame's detections do not depend on the other frames. With
``out=``, each finished frame is kept in ``OUT.parts/`` (:mod:`voxpick.tiling.parts`) so that
a killed run, restarted with the same call, locates only the frames it had not finished.
See ``docs/tracking.md``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpick import __version__
from voxpick.api import DENSE_VOLFRAC, UNET_TILE, _voxel_size_source, locate
from voxpick.detect.classical import (
    DEFAULT_DETECT_SCALE,
    DEFAULT_FILTER_SCALE,
    DEFAULT_MIN_RELATIVE,
)
from voxpick.detect.contract import detector_class
from voxpick.detect.schema import DETECTION_COLUMNS
from voxpick.io.calibration import resolve_voxel_size
from voxpick.io.frames import FrameSeries, open_frames
from voxpick.io.positions import plain_attrs, write_positions
from voxpick.tiling.chunked import _check_out, _output_lock, _progress_bar
from voxpick.tiling.parts import PartStore, block_digest, parts_dir_for
from voxpick.validation import as_triple, diameter_for_volume

#: Columns of a :func:`batch` table: the detection schema, then the frame index (with
#: ``refine=True``, the refinement's columns come before ``frame``).
BATCH_COLUMNS: tuple[str, ...] = (*DETECTION_COLUMNS, "frame")

#: ``attrs`` of one frame's locate that describe the whole run (kept once, not per frame).
_RUN_KEYS = (
    "method", "diameter", "voxel_size", "voxel_size_source", "diameter_px", "invert", "shape",
    "voxpick_version",
)  # fmt: skip

#: Options of :func:`voxpick.locate` that do not change its result (left out of the manifest).
_RUNTIME_OPTIONS = ("scheduler", "client", "workers", "device")


def _manifest_value(name: str, value: Any) -> Any:
    if name == "model" and value is not None and not isinstance(value, str | os.PathLike):
        return type(value).__name__  # a loaded model: its type, not its address
    return str(value) if isinstance(value, os.PathLike) else value


def batch(
    frames: Any,
    *,
    diameter: Any,
    voxel_size: Any = None,
    method: str = "auto",
    invert: bool = False,
    threshold: float | None = None,
    min_score: float | None = None,
    separation: Any = None,
    filter_scale: float = DEFAULT_FILTER_SCALE,
    detect_scale: float | None = DEFAULT_DETECT_SCALE,
    min_relative: float = DEFAULT_MIN_RELATIVE,
    noise: float | None = None,
    z_blur: float | None = None,
    model: Any = None,
    device: Any = None,
    tile: int = UNET_TILE,
    margin: int | None = None,
    scales: Any = (1.0,),
    dense_volfrac: float = DENSE_VOLFRAC,
    chunks: Any = None,
    overlap: Any = None,
    scheduler: Any = None,
    client: Any = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = False,
    workers: int | None = None,
    refine: bool = False,
) -> pd.DataFrame:
    """Find every particle in every frame of a time series.

    Every frame is located by :func:`voxpick.locate` with the options given here (the same
    names and meaning; see its documentation), and its global parameters are estimated per
    frame. A frame is read into memory whole, in turn; ``chunks`` bounds the detector's
    working memory within a frame.

    Parameters
    ----------
    frames : array_like, dask.array.Array, zarr.Array, str, os.PathLike or sequence
        The series, axes (t, z, y, x) (:func:`voxpick.io.frames.open_frames`): a 4D array (or
        5D with one channel), a TIFF hyperstack, a 4D ``.npy`` file, a zarr / OME-Zarr store,
        a glob pattern of 3D volume files (natural order) or a list of 3D arrays or files.
    diameter, voxel_size, method, invert, threshold, min_score, separation, filter_scale, \
detect_scale, min_relative, noise, z_blur, model, device, tile, margin, scales, dense_volfrac, \
chunks, overlap, scheduler, client, workers, refine
        As in :func:`voxpick.locate`, for every frame; ``voxel_size=None`` takes the voxel
        size the series' file records (for a glob or list, its first file), else 1.
    out : str or os.PathLike, optional
        Also write the table here (``.csv`` with a JSON sidecar of ``attrs``, or
        ``.parquet``), atomically; finished frames are kept in ``OUT.parts/`` until then, and
        a rerun of the same call resumes from them.
    progress : bool
        Show a progress bar of finished frames (stderr).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`voxpick.locate` (:data:`voxpick.detect.DETECTION_COLUMNS`, and
        the ``sigma_*`` columns with ``refine=True``), then ``frame`` (int), also when empty;
        rows by frame, then decreasing ``score``. ``attrs``: ``method``, ``diameter``,
        ``voxel_size``, ``diameter_px``, ``invert``, ``shape`` (t, z, y, x), ``n_frames``,
        ``voxpick_version``, and ``frames``: one dict per frame with what its run estimated
        (``detector``, thresholds, ``params``).

    Raises
    ------
    ValueError, TypeError
        A bad series (a single 3D volume, several channels, frames of different shapes) or
        option.

    Examples
    --------
    >>> from voxpick.simulate import simulate_brownian
    >>> sim = simulate_brownian(32, n_frames=3, radius=4, volfrac=0.2, rng=0)
    >>> found = batch(sim.frames, diameter=8, method="classical")
    >>> sorted(found["frame"].unique())
    [0, 1, 2]
    """
    options: dict[str, Any] = {
        "diameter": diameter, "voxel_size": voxel_size, "method": method, "invert": invert,
        "threshold": threshold, "min_score": min_score, "separation": separation,
        "filter_scale": filter_scale, "detect_scale": detect_scale,
        "min_relative": min_relative, "noise": noise, "z_blur": z_blur, "model": model,
        "device": device, "tile": tile, "margin": margin, "scales": scales,
        "dense_volfrac": dense_volfrac, "chunks": chunks, "overlap": overlap,
        "scheduler": scheduler, "client": client, "workers": workers, "refine": refine,
    }  # fmt: skip
    out_path = _check_out(out)
    detector_class(method)  # an unknown method fails before anything is read
    with open_frames(frames) as series:
        told = voxel_size
        voxel_size, calibration = resolve_voxel_size(series.path, voxel_size)
        options["voxel_size"] = voxel_size
        d_px = diameter_for_volume(series.shape, diameter, voxel_size)
        manifest = {
            "input": series.description, "n_frames": series.n_frames, "shape": series.shape,
            "dtype": str(series.dtype), "voxpick_version": __version__, "run": "batch",
            "options": {
                k: _manifest_value(k, v) for k, v in options.items() if k not in _RUNTIME_OPTIONS
            },
        }  # fmt: skip
        with _output_lock(out_path):
            tables = _locate_frames(series, options, out_path, manifest, progress)
            final = _merge(tables, series, options, d_px)
            final.attrs["voxel_size_source"] = _voxel_size_source(told, calibration)
            if out_path is not None:
                write_positions(out_path, final)
                PartStore(parts_dir_for(out_path), manifest).remove()
    return final


def _locate_frames(
    series: FrameSeries,
    options: dict[str, Any],
    out_path: Path | None,
    manifest: dict[str, Any],
    progress: bool,
) -> list[pd.DataFrame]:
    """Each frame's detections, with a ``frame`` column: from its part, or located now."""
    parts = parts_dir_for(out_path) if out_path is not None else None
    # a fresh run creates its parts directory only once the first frame is located, so that a
    # bad option leaves nothing behind; a resumed one checks the manifest first
    store = PartStore(parts, manifest) if parts is not None and parts.is_dir() else None
    tables = []
    bar, task = _progress_bar(progress, series.n_frames, 0, description="frames")
    with bar:
        for t in range(series.n_frames):
            data = series.read(t)
            name = f"frame{t:06d}"
            digest = block_digest(data) if parts is not None else ""
            table = store.load(name, input_hash=digest) if store and store.has(name) else None
            if table is None:
                found = locate(data, **options, out=None, progress=False)
                info = plain_attrs({str(k): v for k, v in found.attrs.items()})
                table = found.assign(frame=np.int64(t))
                table.attrs.clear()
                table.attrs.update(info)
                if parts is not None:
                    store = store or PartStore(parts, manifest)
                    store.write(name, table, input_hash=digest, attrs=info)
            tables.append(table)
            bar.advance(task)
    return tables


def _merge(
    tables: list[pd.DataFrame],
    series: FrameSeries,
    options: dict[str, Any],
    d_px: tuple[float, float, float],
) -> pd.DataFrame:
    """One table of every frame's detections, and ``attrs`` describing the run."""
    per_frame = [{k: v for k, v in t.attrs.items() if k not in _RUN_KEYS} for t in tables]
    columns = [c for c in tables[0].columns if c != "frame"] + ["frame"]  # locate's, then frame
    merged = pd.concat([t[columns] for t in tables], ignore_index=True)
    merged = merged.astype({"frame": np.int64})
    merged.attrs.clear()
    diameter = options["diameter"]
    merged.attrs.update(
        method=options["method"],
        diameter=diameter
        if isinstance(diameter, int | float)
        else as_triple(diameter, name="diameter"),
        voxel_size=as_triple(options["voxel_size"], name="voxel_size"),
        diameter_px=d_px,
        invert=bool(options["invert"]),
        shape=(series.n_frames, *series.shape),
        n_frames=series.n_frames,
        voxpick_version=__version__,
        frames=per_frame,
    )
    return merged
