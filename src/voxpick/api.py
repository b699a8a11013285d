"""The public entry points: :func:`locate` runs any registered detector, in memory or in blocks."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from voxpick.detect.classical import (
    DEFAULT_DETECT_SCALE,
    DEFAULT_FILTER_SCALE,
    DEFAULT_MIN_RELATIVE,
)
from voxpick.detect.contract import Setup, detector_class, get_detector
from voxpick.io.calibration import Calibration, resolve_voxel_size
from voxpick.io.source import VolumeSource, open_volume
from voxpick.progress import stage
from voxpick.tiling.chunked import run_detector
from voxpick.validation import (
    as_triple,
    check_flag,
    check_volume,
    diameter_for_volume,
    length_in_voxels,
)

#: Defaults of the learned detectors' options, repeated here so that ``help(locate)`` shows
#: them without importing PyTorch (a test keeps them equal to the detectors' own).
UNET_TILE = 256
DENSE_VOLFRAC = 0.35


def is_chunked_array(volume: Any) -> bool:
    """Whether ``volume`` is a dask or zarr array (located block by block).

    Parameters
    ----------
    volume : object

    Returns
    -------
    bool
    """
    module = type(volume).__module__
    return module.startswith(("dask.", "zarr.")) and hasattr(volume, "shape")


def _source(volume: Any) -> tuple[VolumeSource, bool]:
    """Return the volume as a source, and whether it is in memory (one block by default)."""
    if is_chunked_array(volume) or isinstance(volume, str | os.PathLike | VolumeSource):
        return open_volume(volume), False
    arr = check_volume(volume)
    return VolumeSource(arr, description=f"array {arr.shape}"), True


def _voxel_size_source(told: Any, calibration: Calibration | None) -> str:
    """Say where the voxel size of a run comes from (``attrs["voxel_size_source"]``)."""
    if told is not None:
        return "given"
    return calibration.describe() if calibration is not None else "default (1: voxels)"


def locate(
    volume: Any,
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
    """Find every particle in a 3D volume.

    Every detector runs the same three steps (:mod:`voxpick.detect.contract`): global
    parameters estimated once, candidates found block by block, a finishing step on all of
    them; an in-memory volume is one block. The result has one schema whatever the detector
    and however it ran (:mod:`voxpick.detect.schema`).

    Parameters
    ----------
    volume : array_like, dask.array.Array, zarr.Array, str or os.PathLike
        3D image, axes (z, y, x). A numpy array is located whole (unless ``chunks`` is given);
        a dask or zarr array, or the path of a zarr / OME-Zarr store, TIFF or ``.npy`` file,
        block by block in bounded memory (same result as a whole-volume run).
    diameter : float or sequence of 3 float
        Particle diameter in the units of ``voxel_size`` (voxels by default); a ``(z, y, x)``
        triple for particles that look elongated, e.g. along z by a confocal PSF.
    voxel_size : float or sequence of 3 float
        Voxel size per axis (z, y, x). ``None`` (default): the voxel size the file records
        when ``volume`` is a path (TIFF ImageJ/OME metadata, OME-Zarr scale, MRC header; see
        :func:`voxpick.io.read_calibration`), else 1, i.e. ``diameter`` is in voxels. A value
        that disagrees with the file's gives a
        :class:`~voxpick.io.calibration.CalibrationWarning` and is used.
    method : str
        A registered detector (:func:`voxpick.detect.detector_names`): ``"auto"`` (default:
        the shipped U-Net when its detections imply a crowded volume, plus the classical
        detections it missed; else the classical detector), ``"classical"`` (band-pass,
        no training) or ``"unet"`` (the shipped 3D U-Net).
    invert : bool
        Particles are darker than the background.
    threshold : float, optional
        ``classical``: lowest filter signal-to-noise ratio (default automatic per volume);
        ``unet``: lowest heatmap peak height, 0..1 (default the model's).
    min_score : float, optional
        ``classical``: also return candidates down to this signal-to-noise ratio
        (``score < 1``), for precision-recall sweeps; the threshold is unchanged.
    separation : float or sequence of 3 float, optional
        ``classical``, ``unet``: minimum distance between two detections, units of
        ``diameter`` (default 0.5 and 0.45 diameter). Raise it towards 0.8 diameter when no
        two particles can be closer (hard spheres).
    filter_scale : float
        ``classical``: LoG scale as a fraction of the radius.
    detect_scale : float or None
        ``classical``: scale of the sharper second finder used with ``min_score`` (None: off).
    min_relative : float
        ``classical``: drop peaks below this fraction of a typical particle's response
        (raise it, e.g. to 0.35, against a bright coverslip band).
    noise : float, optional
        ``classical``: voxel noise standard deviation (default estimated).
    z_blur : float, optional
        ``classical``: extra z blur sigma, voxels, to deconvolve (default estimated; 0 off).
    model : str, pathlib.Path or HeatmapModel, optional
        ``unet``, ``auto``: the model (default the shipped one; see :func:`voxpick.ml.load_model`).
    device : str, optional
        ``unet``, ``auto``: ``"cpu"``, ``"cuda"`` or None (CUDA when available).
    tile : int
        ``unet``, ``auto``: core edge of one inference block at model scale (memory).
    margin : int, optional
        ``unet``: context of each inference block at model scale (default two diameters).
    scales : sequence of float or "tta"
        ``unet``: diameter multipliers to locate at and merge; ``"tta"`` is (0.9, 1.0, 1.1).
    dense_volfrac : float
        ``auto``: keep the U-Net when its detections imply at least this volume fraction.
    chunks : int or sequence of 3 int, optional
        Core edge of a block, voxels (z, y, x); default the whole volume for a numpy array,
        256 otherwise.
    overlap : int or sequence of 3 int, optional
        Halo around each block, voxels; default the detector's context (at least a diameter).
    scheduler : str or distributed.Client, optional
        Block-by-block runs: ``None``/``"threads"``, ``"synchronous"``, a
        ``dask.distributed`` scheduler address ``"tcp://host:port"`` or a client.
    client : distributed.Client, optional
        Same as passing the client as ``scheduler``.
    out : str or os.PathLike, optional
        Also write the table here (``.csv`` with a JSON sidecar of ``attrs``, or ``.parquet``),
        atomically; a block-by-block run keeps finished blocks in ``OUT.parts/`` and resumes.
    progress : bool
        Show progress on stderr (in a terminal, or in Jupyter: :mod:`voxpick.progress`): the
        stage that estimates the detector's parameters (for ``"auto"``, the U-Net on a central
        crop), then a bar of finished blocks (one for an in-memory volume), with the time
        elapsed.
    workers : int, optional
        ``classical``: FFT threads (default all cores for one block, 1 per block otherwise).
    refine : bool
        Then fit the image model to the detections with :func:`voxpick.refine` (same blocks):
        sub-voxel positions with ``sigma_z, sigma_y, sigma_x`` columns, particles missed added
        and unneeded ones removed. ``out`` then holds the refined table (the detection stage
        is not resumable).

    Returns
    -------
    pandas.DataFrame
        One row per particle, sorted by decreasing ``score``, with the columns
        :data:`voxpick.detect.DETECTION_COLUMNS` (also when empty): ``z, y, x`` (voxels),
        ``score`` (1 at the detector's threshold), ``detector``, ``snr``, ``heatmap``,
        ``mass``, ``signal``, ``background``, ``sharp_only``. ``attrs`` records ``method``,
        the ``detector`` that ran, ``diameter``, ``voxel_size``, ``diameter_px``, the
        thresholds, the estimated parameters and ``voxpick_version``.

    Raises
    ------
    ValueError, TypeError
        A bad volume or option, or an option the chosen method does not take.

    Examples
    --------
    >>> from voxpick.simulate import simulate_volume
    >>> sim = simulate_volume(48, radius=4, volfrac=0.4, rng=0)
    >>> found = locate(sim.volume, diameter=8)
    >>> list(found.columns[:5])
    ['z', 'y', 'x', 'score', 'detector']
    """
    cls = detector_class(method)
    given = {
        "threshold": threshold, "min_score": min_score, "filter_scale": filter_scale,
        "detect_scale": detect_scale, "min_relative": min_relative, "noise": noise,
        "z_blur": z_blur, "model": model, "device": device, "tile": tile, "margin": margin,
        "scales": scales, "dense_volfrac": dense_volfrac, "workers": workers,
    }  # fmt: skip
    defaults = locate.__kwdefaults__ or {}
    options = {k: v for k, v in given.items() if k in cls.options}
    refused = sorted(k for k, v in given.items() if k not in cls.options and v != defaults[k])
    told = voxel_size
    voxel_size, calibration = resolve_voxel_size(volume, voxel_size)
    if separation is not None:
        if "separation_px" not in cls.options:
            refused.append("separation")
        else:
            options["separation_px"] = length_in_voxels(separation, voxel_size, name="separation")
    if refused:
        takers = {
            "threshold": "'classical' or 'unet'", "separation": "'classical' or 'unet'",
            "scales": "'unet'", "margin": "'unet'",
        }  # fmt: skip
        hint = "; ".join(f"{k} needs method={takers.get(k, repr('classical'))}" for k in refused)
        raise TypeError(
            f"method={method!r} does not take {refused} ({hint}). Leave them out, or choose "
            "the method that uses them."
        )
    invert = check_flag(invert, name="invert")
    source, in_memory = _source(volume)
    d_px = diameter_for_volume(source.shape, diameter, voxel_size)
    if chunks is None and in_memory and scheduler is None and client is None:
        chunks = source.shape  # the whole volume is one block
    detector = get_detector(method, **options)
    setup = Setup(diameter_px=d_px, invert=invert, shape=source.shape)
    with stage(f"{method}: estimating parameters", enabled=bool(progress)):
        params = detector.estimate(source, setup)
    user = {
        "method": method,
        "diameter": diameter
        if isinstance(diameter, int | float)
        else as_triple(diameter, name="d"),
        "voxel_size": as_triple(voxel_size, name="voxel_size"),
        "voxel_size_source": _voxel_size_source(told, calibration),
    }
    if refine:
        from voxpick.refinement import refine as refine_particles

        found = run_detector(
            source, detector, setup, params, chunks=chunks, overlap=overlap,
            scheduler=scheduler, client=client, progress=progress, attrs=user,
        )  # fmt: skip
        return refine_particles(
            volume, found, diameter=diameter, voxel_size=voxel_size, invert=invert,
            chunks=None if in_memory and chunks == source.shape else chunks,
            scheduler=scheduler, client=client, out=out, progress=progress,
        )  # fmt: skip
    return run_detector(
        source, detector, setup, params, chunks=chunks, overlap=overlap, scheduler=scheduler,
        client=client, out=out, progress=progress, attrs=user,
    )  # fmt: skip
