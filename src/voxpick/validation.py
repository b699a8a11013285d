"""Input checks shared by every stage.

Every public function validates user input through these helpers, so that a bad value always
produces the same kind of message: what was given, what was expected, and how to fix it.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

RngLike = int | np.random.Generator | None


def make_rng(rng: RngLike) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` from a seed, a generator or ``None``.

    Parameters
    ----------
    rng : int, numpy.random.Generator or None
        A seed (reproducible), an existing generator (used as is) or ``None`` (fresh entropy).

    Returns
    -------
    numpy.random.Generator
    """
    if rng is None or isinstance(rng, numbers.Integral):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(
        f"rng={rng!r} is not usable: expected an int seed, a numpy.random.Generator or None. "
        "Pass e.g. rng=0 for a reproducible result."
    )


def as_triple(value: Any, *, name: str, positive: bool = True) -> tuple[float, float, float]:
    """Turn a scalar or a length-3 sequence into a ``(z, y, x)`` tuple of floats.

    Parameters
    ----------
    value : float or sequence of 3 floats
        The value to expand.
    name : str
        Argument name used in error messages.
    positive : bool
        Require every component to be strictly positive.

    Returns
    -------
    tuple of float
        ``(z, y, x)``.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        triple = (float(value),) * 3
    elif isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
        if any(isinstance(v, bool | np.bool_) for v in np.asarray(value, dtype=object).ravel()):
            raise TypeError(f"{name}={value!r} holds True/False: expected numbers (z, y, x).")
        try:
            arr = np.asarray(value, dtype=float).ravel()
        except (TypeError, ValueError):
            raise TypeError(
                f"{name}={value!r} is not numbers: expected a scalar or (z, y, x) tuple."
            ) from None
        if arr.size != 3:
            raise ValueError(
                f"{name}={value!r} has {arr.size} components: expected a scalar or 3 values "
                "in (z, y, x) order."
            )
        triple = (float(arr[0]), float(arr[1]), float(arr[2]))
    else:
        raise TypeError(f"{name}={value!r} is not a number: expected a scalar or (z, y, x) tuple.")
    if not all(np.isfinite(triple)):
        raise ValueError(f"{name}={value!r} is not finite: expected finite numbers.")
    if positive and min(triple) <= 0:
        raise ValueError(f"{name}={value!r} must be > 0 in every axis.")
    return triple


#: Smallest particle diameter, in voxels per axis, that any detector accepts.
MIN_DIAMETER_PX = 2.0


def length_in_voxels(value: Any, voxel_size: Any, *, name: str) -> tuple[float, float, float]:
    """Validate a positive length in the units of ``voxel_size`` and return it in voxels.

    Parameters
    ----------
    value : float or sequence of 3 float
        Length, physical units (voxels when ``voxel_size`` is 1); a (z, y, x) triple per axis.
    voxel_size : float or sequence of 3 float
        Voxel size per axis (z, y, x).
    name : str
        Argument name for error messages.

    Returns
    -------
    tuple of 3 float
        ``value / voxel_size`` per axis.
    """
    voxel = as_triple(voxel_size, name="voxel_size")
    v = as_triple(value, name=name)
    return (v[0] / voxel[0], v[1] / voxel[1], v[2] / voxel[2])


def diameter_in_voxels(diameter: Any, voxel_size: Any) -> tuple[float, float, float]:
    """Validate ``diameter`` (in the units of ``voxel_size``) and return it in voxels (z, y, x).

    Parameters
    ----------
    diameter : float or sequence of 3 float
        Particle diameter, physical units (voxels when ``voxel_size`` is 1).
    voxel_size : float or sequence of 3 float
        Voxel size per axis (z, y, x).

    Returns
    -------
    tuple of 3 float
        ``diameter / voxel_size`` per axis, each at least :data:`MIN_DIAMETER_PX`.
    """
    d_px = length_in_voxels(diameter, voxel_size, name="diameter")
    if min(d_px) < MIN_DIAMETER_PX:
        raise ValueError(
            f"diameter={diameter!r} with voxel_size={voxel_size!r} is "
            f"{tuple(round(d, 3) for d in d_px)} voxels: expected at least {MIN_DIAMETER_PX:g} "
            "voxels per axis. diameter is in the units of voxel_size (diameter in voxels = "
            "diameter / voxel_size); check the units, or upsample the volume."
        )
    return d_px


def check_volume(volume: Any, *, name: str = "volume") -> np.ndarray:
    """Validate a 3D image volume and return it as a numpy array (no copy when possible).

    Parameters
    ----------
    volume : array_like
        Candidate volume, axes (z, y, x).
    name : str
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray
        The volume, 3D, real-valued and finite.
    """
    arr = np.asarray(volume)
    if arr.ndim != 3:
        raise ValueError(
            f"{name} has shape {arr.shape} ({arr.ndim}D): expected a 3D array (z, y, x). "
            "For a time series (t, z, y, x) use voxpick.batch (every frame) or `voxpick track`; "
            "for a multichannel stack, pass one channel at a time."
        )
    if arr.size == 0:
        raise ValueError(f"{name} has shape {arr.shape} and is empty: expected a non-empty volume.")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(
            f"{name} has dtype {arr.dtype}: expected integer or floating-point voxels. "
            "Convert it with volume.astype(numpy.float32)."
        )
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(
            f"{name} contains {bad} NaN or infinite voxels: expected finite values. "
            "Replace them first, e.g. numpy.nan_to_num(volume, nan=numpy.nanmedian(volume))."
        )
    return arr


def check_positions(positions: Any, *, name: str = "positions") -> np.ndarray:
    """Validate an ``(N, 3)`` array of (z, y, x) positions and return it as float64.

    Parameters
    ----------
    positions : array_like or pandas.DataFrame
        Points; a DataFrame must have columns ``z``, ``y``, ``x``.
    name : str
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray
        Shape ``(N, 3)``, float64.
    """
    if hasattr(positions, "columns"):
        missing = [c for c in ("z", "y", "x") if c not in positions.columns]
        if missing:
            raise ValueError(
                f"{name} is missing columns {missing}: expected columns z, y, x "
                f"(found {list(positions.columns)})."
            )
        positions = positions[["z", "y", "x"]].to_numpy()
    try:
        arr = np.asarray(positions, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} of type {type(positions).__name__} does not hold numbers: expected an (N, 3) "
            "array of (z, y, x) voxels or a DataFrame with numeric columns z, y, x."
        ) from None
    if arr.size == 0:
        return np.zeros((0, 3))
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name} has shape {arr.shape}: expected (N, 3) in (z, y, x) order.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite coordinates: expected finite values.")
    return arr


def check_number(value: Any, *, name: str, lo: float, hi: float, hint: str) -> float:
    """Validate a real number in ``[lo, hi]`` (booleans refused) and return it as a float.

    Parameters
    ----------
    value : object
        Candidate number.
    name : str
        Argument name for error messages.
    lo, hi : float
        Allowed range, inclusive.
    hint : str
        What the value means, appended to the error.

    Returns
    -------
    float
    """
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name}={value!r} is not a number: expected a float. {hint}")
    v = float(value)
    if not (np.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{name}={value!r} is out of range: expected {lo} to {hi}. {hint}")
    return v


def check_flag(value: Any, *, name: str) -> bool:
    """Validate a True/False option (strings such as ``"yes"`` are refused).

    Parameters
    ----------
    value : object
    name : str
        Argument name for error messages.

    Returns
    -------
    bool
    """
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name}={value!r} must be True or False.")
    return bool(value)


def diameter_for_volume(
    shape: Sequence[int], diameter: Any, voxel_size: Any
) -> tuple[float, float, float]:
    """Validate ``diameter`` (units of ``voxel_size``) for a volume; return it in voxels.

    Parameters
    ----------
    shape : sequence of int
        Volume shape (z, y, x): a particle larger than the volume is refused.
    diameter : float or sequence of 3 float
        Particle diameter, physical units (voxels when ``voxel_size`` is 1).
    voxel_size : float or sequence of 3 float
        Voxel size per axis (z, y, x).

    Returns
    -------
    tuple of 3 float
        Diameter per axis in voxels.
    """
    d_px = diameter_in_voxels(diameter, voxel_size)
    too_big = [ax for ax, d, n in zip("zyx", d_px, shape, strict=True) if d > n]
    if too_big:
        raise ValueError(
            f"diameter={diameter!r} is {tuple(round(d, 2) for d in d_px)} voxels, larger than "
            f"the volume {tuple(shape)} along {', '.join(too_big)}: expected a particle "
            "that fits inside the volume. Check the units (diameter / voxel_size = voxels)."
        )
    return d_px
