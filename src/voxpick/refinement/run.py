"""``voxpick.refine``: fit the image model to found particles, then add and remove particles."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from voxpick.detect.contract import Setup
from voxpick.detect.schema import DETECTION_COLUMNS, REFINED_COLUMNS, conform
from voxpick.io.source import VolumeSource, open_volume
from voxpick.refinement.stage import RefineDetector
from voxpick.tiling.chunked import run_detector
from voxpick.validation import (
    as_triple,
    check_flag,
    check_positions,
    check_volume,
    diameter_for_volume,
)


def _source(volume: Any) -> tuple[VolumeSource, bool]:
    """Return the volume as a source, and whether it is in memory (one block by default)."""
    module = type(volume).__module__
    chunked = module.startswith(("dask.", "zarr.")) and hasattr(volume, "shape")
    if chunked or isinstance(volume, str | os.PathLike | VolumeSource):
        return open_volume(volume), False
    arr = check_volume(volume)
    return VolumeSource(arr, description=f"array {arr.shape}"), True


def particle_table(particles: Any, shape: tuple[int, int, int]) -> pd.DataFrame:
    """Validate the particles to refine and give them every detection column.

    Parameters
    ----------
    particles : pandas.DataFrame or array_like
        A detection table (e.g. from :func:`voxpick.locate`) or anything with columns
        ``z, y, x`` (voxels), or an ``(N, 3)`` array.
    shape : tuple of 3 int
        Shape of the volume: every particle must lie inside it.

    Returns
    -------
    pandas.DataFrame
        The detection columns (missing ones filled: ``score`` NaN, ``detector`` ``"refine"``).
    """
    pos = check_positions(particles, name="particles")
    hi = np.asarray(shape, float) - 0.5
    outside = ~np.all((pos >= -0.5) & (pos < hi), axis=1)
    if outside.any():
        first = tuple(round(float(v), 2) for v in pos[np.flatnonzero(outside)[0]])
        raise ValueError(
            f"particles has {int(outside.sum())} positions outside the volume of shape {shape} "
            f"(e.g. z, y, x = {first}): expected voxel coordinates from -0.5 to size - 0.5 "
            "per axis. Pass the positions of this volume, in voxels (not physical units)."
        )
    table = (
        particles.copy()
        if isinstance(particles, pd.DataFrame)
        else pd.DataFrame(index=range(len(pos)))
    )
    table = table.reset_index(drop=True)
    table[["z", "y", "x"]] = pos
    for name in DETECTION_COLUMNS[3:]:
        if name not in table.columns:
            default: Any = {"detector": "refine", "sharp_only": False}.get(name, np.nan)
            table[name] = default
    return conform(table)


def refine(
    volume: Any,
    particles: Any,
    *,
    diameter: Any,
    voxel_size: Any = 1.0,
    invert: bool = False,
    moves: bool = True,
    chunks: Any = None,
    overlap: Any = None,
    scheduler: Any = None,
    client: Any = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Refine particle positions by fitting the image model, and find the particles missed.

    The image model (background plane, particle size and brightness, PSF width per axis, noise)
    is measured from the volume given the particles; then every particle's position,
    brightness (and size, when the sizes spread) is fitted by least squares to the whole
    image, neighbours together, with hard spheres kept from overlapping; particles are added
    where the residual shows one and removed where the data do not need them (a BIC
    penalty). Block by block for large volumes, like :func:`voxpick.locate`. See
    ``docs/refine.md``.

    Parameters
    ----------
    volume : array_like, dask.array.Array, zarr.Array, str or os.PathLike
        3D image, axes (z, y, x), as :func:`voxpick.locate` takes it.
    particles : pandas.DataFrame or array_like
        The particles found (e.g. ``voxpick.locate(volume, ...)``): columns ``z, y, x`` in
        voxels of ``volume``, or an ``(N, 3)`` array. Other detection columns are kept.
    diameter : float or sequence of 3 float
        Particle diameter in the units of ``voxel_size``; a starting value (the size is fitted).
    voxel_size : float or sequence of 3 float
        Voxel size per axis (z, y, x); default 1, i.e. ``diameter`` in voxels.
    invert : bool
        Particles are darker than the background.
    moves : bool
        Add and remove particles (default); ``False`` only refines the positions given.
    chunks, overlap, scheduler, client, out, progress
        Block-by-block runs, as :func:`voxpick.locate` (the default halo makes block results
        equal whole-volume results).

    Returns
    -------
    pandas.DataFrame
        :data:`voxpick.detect.schema.REFINED_COLUMNS`: the detection columns (positions refined;
        ``mass``, ``signal``, ``background`` measured again; added particles have
        ``detector == "refine"`` and ``score`` 1 at the penalty) and ``sigma_z``, ``sigma_y``,
        ``sigma_x`` (each coordinate's standard deviation, voxels). ``attrs["refine"]`` holds
        the measured model and the counts of removed and added particles.

    Raises
    ------
    ValueError
        A bad volume or diameter, NaN positions, or particles outside the volume.

    Examples
    --------
    >>> import voxpick
    >>> from voxpick.simulate import simulate_volume
    >>> sim = simulate_volume(48, radius=4, volfrac=0.3, rng=0)
    >>> found = voxpick.locate(sim.volume, diameter=8, method="classical")
    >>> refined = voxpick.refine(sim.volume, found, diameter=8)
    >>> list(refined.columns[-3:])
    ['sigma_z', 'sigma_y', 'sigma_x']
    """
    invert = check_flag(invert, name="invert")
    moves = check_flag(moves, name="moves")
    source, in_memory = _source(volume)
    d_px = diameter_for_volume(source.shape, diameter, voxel_size)
    table = particle_table(particles, source.shape)
    user = {
        "method": "refine",
        "diameter": diameter
        if isinstance(diameter, int | float)
        else as_triple(diameter, name="d"),
        "voxel_size": as_triple(voxel_size, name="voxel_size"),
    }
    if len(table) == 0:
        empty = conform(
            table.assign(sigma_z=np.nan, sigma_y=np.nan, sigma_x=np.nan), REFINED_COLUMNS
        )
        empty.attrs.update(user)
        return empty
    if chunks is None and in_memory and scheduler is None and client is None:
        chunks = source.shape
    detector = RefineDetector(particles=table, moves=moves)
    setup = Setup(diameter_px=d_px, invert=invert, shape=source.shape)
    params = detector.estimate(source, setup)
    return run_detector(
        source, detector, setup, params, chunks=chunks, overlap=overlap, scheduler=scheduler,
        client=client, out=out, progress=progress, attrs=user,
    )  # fmt: skip
