"""``locate``: one entry point for every particle detector."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from voxpick.detect.auto import locate_auto
from voxpick.detect.classical import locate_classical


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


def _locate_unet(volume: Any, **kwargs: Any) -> pd.DataFrame:
    """Import torch only when the learned method is asked for."""
    from voxpick.ml import locate_unet

    return locate_unet(volume, **kwargs)


#: Detection methods accepted by :func:`locate`, each a function of ``(volume, **kwargs)``.
METHODS: dict[str, Callable[..., pd.DataFrame]] = {
    "auto": locate_auto,
    "classical": locate_classical,
    "unet": _locate_unet,
}


def locate(
    volume: Any,
    *,
    diameter: Any,
    voxel_size: Any = 1,
    method: str = "auto",
    invert: bool = False,
    **kwargs: Any,
) -> pd.DataFrame:
    """Find every particle in a 3D volume.

    Parameters
    ----------
    volume : array_like
        3D image, axes (z, y, x). A dask or zarr array is located block by block in bounded
        memory with :func:`voxpick.tiling.locate_chunked` (same result as a whole-volume run).
    diameter : float or sequence of 3 float
        Particle diameter in the same units as ``voxel_size`` (voxels by default); a
        ``(z, y, x)`` triple for particles that look elongated, e.g. along z by a confocal PSF.
        The diameter in voxels is ``diameter / voxel_size``.
    voxel_size : float or sequence of 3 float
        Voxel size per axis (z, y, x); default 1, i.e. ``diameter`` is in voxels.
    method : str
        Detector; one of :data:`METHODS`: ``"auto"`` (default: the shipped U-Net when its
        detections imply a crowded volume, else the classical detector; see
        :func:`~voxpick.detect.auto.locate_auto`), ``"classical"`` (no training, see
        :func:`~voxpick.detect.classical.locate_classical`) or ``"unet"`` (the shipped 3D U-Net,
        see :func:`voxpick.ml.locate_unet`).
    invert : bool
        Particles are darker than the background.
    **kwargs
        Passed to the method, e.g. ``threshold``, ``min_score``, ``separation``,
        ``filter_scale`` for
        :func:`~voxpick.detect.classical.locate_classical`; ``threshold``, ``model``,
        ``device``, ``tile`` for :func:`voxpick.ml.locate_unet`; only ``model``, ``device``,
        ``tile`` and ``dense_volfrac`` for ``"auto"``.

    Returns
    -------
    pandas.DataFrame
        One row per particle: ``z, y, x`` (voxels), ``score`` (higher is more confident), then
        the method's extra columns; the same columns with zero rows when nothing is found.
        With ``method="auto"``, ``attrs["method"]`` names the detector used.

    Examples
    --------
    >>> from voxpick.simulate import simulate_volume
    >>> sim = simulate_volume(48, radius=4, volfrac=0.4, rng=0)
    >>> found = locate(sim.volume, diameter=8)
    >>> list(found.columns[:4])
    ['z', 'y', 'x', 'score']
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(
            f"method={method!r} is unknown: expected one of {sorted(METHODS)}. "
            "Use method='auto' (the default)."
        )
    if is_chunked_array(volume):  # dask or zarr: block by block, never loaded whole
        from voxpick.tiling import locate_chunked

        return locate_chunked(
            volume,
            diameter=diameter,
            voxel_size=voxel_size,
            method=method,
            invert=invert,
            progress=False,
            **kwargs,
        )
    return METHODS[method](
        volume, diameter=diameter, voxel_size=voxel_size, invert=invert, **kwargs
    )
