"""OME-Zarr (OME-NGFF) images: read one multiscale level lazily, write a pyramid atomically.

Writing uses :mod:`ome_zarr` (OME-NGFF 0.5 on zarr v3); reading uses :mod:`zarr` and accepts
NGFF 0.4 (zarr v2, ``multiscales`` in the group attributes) and 0.5 (zarr v3, ``ome``
attributes), as well as plain zarr arrays.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from voxpick.validation import as_triple, check_volume

VoxelSize = tuple[float, float, float]
_SPATIAL = ("z", "y", "x")


def _multiscales(attrs: dict[str, Any]) -> list[Any] | None:
    found = attrs.get("multiscales") or dict(attrs.get("ome") or {}).get("multiscales")
    return list(found) if found else None


def _scale(transforms: Any) -> list[float] | None:
    for t in transforms or ():
        if isinstance(t, dict) and t.get("type") == "scale" and "scale" in t:
            return [float(v) for v in t["scale"]]
    return None


def _level_voxel_size(ms: dict[str, Any], level: int, ndim: int, path: str) -> VoxelSize:
    names = [a.get("name") if isinstance(a, dict) else a for a in ms.get("axes") or ()]
    if len(names) != ndim:
        names = [None] * (ndim - 3) + list(_SPATIAL)  # NGFF < 0.4: axes are (t, c,) z, y, x
    idx = [names.index(n) if n in names else ndim - 3 + k for k, n in enumerate(_SPATIAL)]
    scale = np.ones(ndim)
    for transforms in (
        ms["datasets"][level].get("coordinateTransformations"),
        ms.get("coordinateTransformations"),
    ):
        s = _scale(transforms)
        if s is not None:
            if len(s) != ndim:
                raise ValueError(
                    f"{path}: OME-Zarr level {level} has a scale of {len(s)} values {s} for a "
                    f"{ndim}D array: expected one value per axis. Fix the metadata."
                )
            scale *= np.asarray(s)
    return as_triple([scale[i] for i in idx], name=f"{path} OME-Zarr scale")


def _drop_singleton_axes(array: Any, names: list[Any], path: str) -> Any:
    if array.ndim == 3:
        return array
    import dask.array as da

    extra = (
        [i for i, n in enumerate(names) if n not in _SPATIAL] if len(names) == array.ndim else []
    )
    if not extra:
        extra = list(range(array.ndim - 3))
    if array.ndim < 3 or len(extra) != array.ndim - 3 or any(array.shape[i] != 1 for i in extra):
        raise ValueError(
            f"{path} holds an array of shape {tuple(array.shape)} (axes {names}): expected a "
            "3D (z, y, x) image, possibly with t/c axes of length 1. For a time series or a "
            "multichannel image, open it with zarr and pass one 3D volume at a time."
        )
    return da.from_zarr(array).squeeze(axis=tuple(extra))


def read_ome_zarr(path: str | os.PathLike[str], *, level: int = 0) -> tuple[Any, VoxelSize | None]:
    """Open one resolution level of an OME-Zarr image lazily, with its (z, y, x) voxel size.

    Parameters
    ----------
    path : str or os.PathLike
        An OME-Zarr image directory (NGFF 0.4 or 0.5), or a plain zarr array (or zarr group
        holding exactly one array) without OME metadata.
    level : int, default 0
        Index in ``multiscales[0].datasets``: 0 is full resolution.

    Returns
    -------
    volume : zarr.Array or dask.array.Array
        The level, axes (z, y, x), read on indexing (``volume[:]`` or ``numpy.asarray``). A
        :class:`zarr.Array` when stored in 3D; a :class:`dask.array.Array` view when axes of
        length 1 (``t``, ``c``) had to be dropped.
    voxel_size : tuple of float or None
        ``(z, y, x)`` product of the level's and the multiscale's ``scale`` transforms, in the
        unit of the ``axes`` metadata (Angstrom for images written by :func:`write_ome_zarr`
        with the default unit). ``None`` for a plain zarr array: it has no physical size, and
        returning ``(1, 1, 1)`` would pass voxels off as physical units.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Not zarr, malformed OME metadata, ``level`` out of range, or not 3D.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such OME-Zarr directory.")
    try:
        node = zarr.open(str(p), mode="r")
    except Exception as err:  # zarr raises several types for a non-zarr directory
        raise ValueError(
            f"{p}: cannot open as zarr ({type(err).__name__}: {err}). Expected an OME-Zarr "
            "image or a zarr array."
        ) from err
    return open_level(node, level=level, source=str(p))


def open_level(node: Any, *, level: int = 0, source: str = "zarr") -> tuple[Any, VoxelSize | None]:
    """Pick one level of an already open OME-Zarr group (or plain zarr array/group).

    Used by :func:`read_ome_zarr` and by :mod:`voxpick.io.copick_project` (copick hands out
    zarr stores, not paths).

    Parameters
    ----------
    node : zarr.Group or zarr.Array
        The open image.
    level : int, default 0
        Multiscale level (0 = full resolution).
    source : str
        Name of the image used in error messages.

    Returns
    -------
    volume : zarr.Array or dask.array.Array
        See :func:`read_ome_zarr`.
    voxel_size : tuple of float or None
        See :func:`read_ome_zarr`.
    """
    p = source
    names: list[Any] = []
    ms: dict[str, Any] | None = None
    if isinstance(node, zarr.Array):
        array, names, ms = node, [], None
    else:
        multiscales = _multiscales(dict(node.attrs))
        if multiscales is None:
            arrays = sorted(name for name, _ in node.arrays())
            if len(arrays) != 1:
                raise ValueError(
                    f"{p} is a zarr group with {len(arrays)} arrays {arrays[:10]} and no "
                    "OME-Zarr 'multiscales' metadata: expected an OME-Zarr image or one array. "
                    "Pass the array's own path."
                )
            array, names, ms = node[arrays[0]], [], None
        else:
            ms = dict(multiscales[0])
            datasets = list(ms.get("datasets") or ())
            if not isinstance(level, int) or not 0 <= level < len(datasets):
                raise ValueError(
                    f"level={level!r} is out of range: {p} has {len(datasets)} levels, expected "
                    f"0 to {len(datasets) - 1} (0 = full resolution)."
                )
            try:
                array = node[datasets[level]["path"]]
            except (KeyError, TypeError) as err:
                raise ValueError(
                    f"{p}: OME-Zarr level {level} ({datasets[level]!r}) names no array in the "
                    "group: the image is incomplete or its metadata is wrong."
                ) from err
            names = [a.get("name") if isinstance(a, dict) else a for a in ms.get("axes") or ()]
    if ms is None and level != 0:
        raise ValueError(f"level={level!r}: {p} is a plain zarr array with a single level 0.")
    voxel_size = None if ms is None else _level_voxel_size(ms, level, array.ndim, p)
    return _drop_singleton_axes(array, names, p), voxel_size


def _downsample(volume: np.ndarray) -> np.ndarray:
    """Mean over 2x2x2 blocks (a trailing odd plane is dropped), in the input dtype."""
    z, y, x = (n // 2 * 2 for n in volume.shape)
    blocks = volume[:z, :y, :x].reshape(z // 2, 2, y // 2, 2, x // 2, 2)
    mean = blocks.mean(axis=(1, 3, 5), dtype=np.float64)
    if np.issubdtype(volume.dtype, np.integer):
        mean = np.rint(mean)
    return mean.astype(volume.dtype)


def write_ome_zarr(
    path: str | os.PathLike[str],
    volume: Any,
    *,
    voxel_size: float | tuple[float, float, float],
    levels: int = 1,
    chunks: int | tuple[int, int, int] = 64,
    unit: str = "angstrom",
) -> Path:
    """Write a 3D volume as an OME-NGFF 0.5 multiscale image (zarr v3), atomically.

    Level 0 is the volume itself (bit-identical); level ``k`` averages ``2**k`` voxels per axis
    (a trailing odd plane is dropped), with scale ``voxel_size * 2**k`` and a translation of
    ``(2**k - 1) / 2`` level-0 voxels so that its voxel centres stay in place.

    Parameters
    ----------
    path : str or os.PathLike
        Destination directory (e.g. ``tomo.zarr``). Written into a temporary sibling directory
        that is renamed onto ``path`` only when complete; an existing ``path`` is replaced.
    volume : array_like
        3D array, axes (z, y, x), integer or float, finite.
    voxel_size : float or tuple of 3 floats
        ``(z, y, x)`` size of a level-0 voxel in ``unit`` (a scalar means isotropic).
    levels : int, default 1
        Number of pyramid levels; every level must keep at least one voxel per axis.
    chunks : int or tuple of 3 int, default 64
        Chunk shape (z, y, x), clipped to each level's shape.
    unit : str, default "angstrom"
        Unit of the spatial axes (an NGFF unit name, e.g. "angstrom", "nanometer",
        "micrometer").

    Returns
    -------
    pathlib.Path
        The written directory.

    Raises
    ------
    ValueError
        Not 3D, NaN/infinite voxels, a bad ``voxel_size``, ``levels`` or ``chunks``.
    ImportError
        ``ome-zarr`` is not installed (it comes with the ``cryoet`` extra).
    """
    try:
        with warnings.catch_warnings():  # ome-zarr's module defaults use its deprecated Scaler
            warnings.simplefilter("ignore", DeprecationWarning)
            from ome_zarr.format import FormatV05
            from ome_zarr.writer import write_multiscale
    except ImportError as err:
        raise ImportError(
            "ome-zarr is needed to write OME-Zarr images: pip install 'voxpick[cryoet]' "
            "(or pip install ome-zarr).",
            name="ome_zarr",
        ) from err

    vol = check_volume(volume)
    vs = as_triple(voxel_size, name="voxel_size")
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels={levels!r} is invalid: expected an int >= 1 (1 = no pyramid).")
    if min(vol.shape) < 2 ** (levels - 1):
        raise ValueError(
            f"levels={levels} is too many for a volume of shape {vol.shape}: level "
            f"{levels - 1} would be {2 ** (levels - 1)} times smaller, i.e. empty along some "
            f"axis. Use levels <= {int(np.log2(min(vol.shape))) + 1}."
        )
    chunk = as_triple(chunks, name="chunks")
    if any(c != int(c) for c in chunk):
        raise ValueError(f"chunks={chunks!r} must be whole numbers of voxels.")
    pyramid = [vol]
    for _ in range(1, levels):
        pyramid.append(_downsample(pyramid[-1]))
    transforms = [
        [
            {"type": "scale", "scale": [v * 2**k for v in vs]},
            {"type": "translation", "translation": [v * (2**k - 1) / 2 for v in vs]},
        ]
        if k
        else [{"type": "scale", "scale": list(vs)}]
        for k in range(levels)
    ]
    options = [
        {"chunks": tuple(min(int(c), n) for c, n in zip(chunk, level.shape, strict=True))}
        for level in pyramid
    ]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        with warnings.catch_warnings():
            # ome-zarr deprecates coordinate_transformations in favour of a scale derived from
            # the level shapes, which is wrong for odd sizes and has no translation
            warnings.simplefilter("ignore", DeprecationWarning)
            write_multiscale(
                pyramid,
                group,
                fmt=FormatV05(),
                axes=[{"name": a, "type": "space", "unit": unit} for a in _SPATIAL],
                coordinate_transformations=transforms,
                storage_options=options,
                name=target.stem,
            )
        os.chmod(tmp, 0o777 & ~_umask())
        if target.is_dir() and not target.is_symlink():
            old = target.with_name(f".{target.name}.{os.getpid()}.old")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
