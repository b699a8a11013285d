"""Property-based test of input validation: any input gives a valid table or a clear error.

Random dtypes (bool, complex, object, float16, int64, ...), shapes (0-d to 5-d, zero-size and
1-thick axes), NaN/inf, odd strides (non-contiguous, negative, Fortran order), chunkings and
option values, for :func:`voxpick.locate` (classical, the fastest detector),
:func:`voxpick.cryoet.pick` and :func:`voxpick.refine`. Every case must return the fixed schema
or raise a one-line ``ValueError``/``TypeError`` - never a traceback from deep inside.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import voxpick
from voxpick.detect.schema import DETECTION_COLUMNS, DETECTION_DTYPES

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples on every run and machine (CI stays reproducible)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

GOOD_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.int64, np.uint64,
               np.float16, np.float32, np.float64]  # fmt: skip
ODD_DTYPES = [np.bool_, np.complex64, np.complex128, object, "U3", "M8[s]"]


def rarely(draw: st.DrawFn, odds: int = 8) -> bool:
    """True about once in ``odds`` draws: each input is odd on its own, not all at once."""
    return draw(st.sampled_from([False] * (odds - 1) + [True]))  # shrinks towards False


def blobs(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Noise with a few bright Gaussian blobs (particles of about 4 voxels), 0..255."""
    rng = np.random.default_rng(seed)
    values = np.asarray(rng.normal(40, 8, shape), dtype=float)
    if len(shape) == 3 and min(shape, default=0) > 0:
        grid = np.indices(shape, dtype=float)
        for _ in range(int(rng.integers(0, 6))):
            centre = [rng.uniform(0, n) for n in shape]
            r2 = sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True))
            values += 120 * np.exp(-r2 / (2 * 1.5**2))
    return np.asarray(values.clip(0, 255))


@st.composite
def arrays(draw: st.DrawFn, *, max_side: int = 16) -> np.ndarray:
    """A small array: mostly a sensible 3D volume, now and then an odd dtype, shape or value.

    Odd shapes are 0-d to 5-d, zero-size or 1-thick; odd dtypes bool, complex, object, str,
    datetime; odd values NaN/inf; odd layouts negative strides, steps, Fortran order, transpose.
    """
    ndim = draw(st.sampled_from([0, 1, 2, 4, 5])) if rarely(draw) else 3
    side = st.integers(0, 3) if rarely(draw) else st.integers(4, max_side)
    shape = tuple(draw(side) for _ in range(ndim))
    if ndim > 3:  # keep 4-d/5-d small, mostly with leading length-1 axes
        shape = tuple(min(n, 2) if i < ndim - 3 else n for i, n in enumerate(shape))
    dtype = np.dtype(draw(st.sampled_from(ODD_DTYPES if rarely(draw) else GOOD_DTYPES)))
    values = blobs(shape, draw(st.integers(0, 2**16)))
    if dtype.kind in "fc" and rarely(draw, 4):
        flat = values.reshape(-1)
        bad = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        if flat.size:
            flat[draw(st.integers(0, flat.size - 1))] = bad
    arr = values.astype(dtype) if dtype.kind not in "UM" else np.zeros(shape, dtype)
    view = draw(st.sampled_from(["reversed", "strided", "fortran", "transposed"]))
    if arr.ndim and arr.size and rarely(draw, 3):
        if view == "reversed":
            arr = arr[::-1, ..., ::-1] if arr.ndim > 1 else arr[::-1]
        elif view == "strided":
            arr = np.repeat(arr, 2, axis=-1)[..., ::2]
        elif view == "fortran":
            arr = np.asfortranarray(arr)
        else:
            arr = arr.T
    return arr


@st.composite
def lengths(draw: st.DrawFn, *, low: float = 2.0, high: float = 6.0) -> Any:
    """A diameter-like value: mostly sensible, now and then not."""
    if rarely(draw):
        return draw(
            st.sampled_from(
                [0, -3, float("nan"), float("inf"), 1e9, 0.5, (3, 3), (3, 3, 3, 3), "6", None,
                 True, [[3]], np.float32(4.0), np.array([3.0, 4.0, 4.0])]
            )
        )  # fmt: skip
    if draw(st.booleans()):
        return draw(st.floats(low, high))
    return tuple(draw(st.floats(low, high)) for _ in range(3))


@st.composite
def chunkings(draw: st.DrawFn) -> Any:
    """None (one block), a core edge or (z, y, x) edges, now and then a bad value."""
    if rarely(draw):
        return draw(st.sampled_from([0, -1, 2.5, "big", (4, 4), (True, 4, 4), [8, 8, 8.5]]))
    return draw(
        st.one_of(
            st.none(),
            st.integers(4, 16),
            st.tuples(st.integers(4, 16), st.integers(4, 16), st.integers(4, 16)),
            st.just(np.int64(8)),
        )
    )


@st.composite
def flags(draw: st.DrawFn) -> Any:
    """True/False, now and then something that is not a flag."""
    if rarely(draw):
        return draw(st.sampled_from(["yes", 1, None, 0.0]))
    return draw(st.sampled_from([False, True, np.bool_(True)]))


def assert_schema(found: pd.DataFrame) -> None:
    assert isinstance(found, pd.DataFrame)
    assert tuple(found.columns) == DETECTION_COLUMNS
    for col, dtype in DETECTION_DTYPES.items():
        if dtype is str:
            assert all(isinstance(v, str) for v in found[col]), col
        else:
            assert found[col].dtype == np.dtype(dtype), (col, found[col].dtype)
    for axis in "zyx":
        assert np.isfinite(found[axis]).all()


def assert_clear(err: BaseException, *arguments: str) -> None:
    """One line that names the argument at fault (not a message from deep inside)."""
    message = str(err)
    assert message and "\n" not in message, repr(err)
    assert any(a in message for a in arguments), f"names none of {arguments}: {err!r}"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@SETTINGS
@given(
    volume=arrays(),
    diameter=lengths(),
    voxel_size=st.one_of(st.just(1.0), lengths(low=0.5, high=1.5)),
    chunks=chunkings(),
    invert=flags(),
)
def test_locate_gives_the_schema_or_a_clear_error(volume, diameter, voxel_size, chunks, invert):
    try:
        found = voxpick.locate(
            volume, diameter=diameter, voxel_size=voxel_size, method="classical", chunks=chunks,
            invert=invert, scheduler="synchronous",
        )  # fmt: skip
    except (ValueError, TypeError) as err:
        assert_clear(err, "volume", "diameter", "voxel_size", "chunks", "invert")
        return
    assert_schema(found)
    assert volume.ndim >= 3 and volume.size > 0 and volume.dtype.kind in "iuf"


@functools.cache
def _picker() -> Any:
    from voxpick.cryoet import load_picker

    return load_picker(None, device="cpu")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(SETTINGS, max_examples=25)
@given(
    volume=arrays(max_side=12),
    voxel_size=st.one_of(st.none(), lengths(low=8.0, high=14.0)),
    thresholds=st.one_of(
        st.none(), st.floats(0, 1), st.sampled_from([float("nan"), -1.0, 2.0, "x", {"nope": 1}])
    ),
    tile=st.sampled_from([96, 16, 8, 1, 0, -4, 2.5, "a"]),
)
def test_pick_gives_its_schema_or_a_clear_error(volume, voxel_size, thresholds, tile):
    from voxpick.cryoet import pick

    try:
        found = pick(
            volume, model=_picker(), voxel_size=voxel_size, thresholds=thresholds, tile=tile
        )
    except (ValueError, TypeError) as err:
        assert_clear(err, "volume", "voxel_size", "thresholds", "tile")
        return
    assert list(found.columns) == ["particle_type", "z", "y", "x", "score"]
    for col in ("z", "y", "x", "score"):
        assert found[col].dtype == np.float64 and np.isfinite(found[col]).all()
    assert volume.ndim >= 3 and volume.size > 0


@st.composite
def particle_tables(draw: st.DrawFn) -> Any:
    """Particles for refine: mostly a few inside the volume, now and then odd ones."""
    n = draw(st.integers(0, 6))
    pos = np.asarray(
        [[draw(st.floats(0.0, 12.0)) for _ in range(3)] for _ in range(n)], dtype=float
    ).reshape(n, 3)
    if rarely(draw):
        return draw(
            st.sampled_from(
                [np.full((2, 3), np.nan), np.ones((3, 2)), np.ones(3), [[1, 2, "x"]], "p", None,
                 pd.DataFrame({"a": [1.0]}), np.full((1, 3), 1e6), np.full((1, 3), -5.0)]
            )
        )  # fmt: skip
    if draw(st.booleans()):
        return pd.DataFrame(pos, columns=["z", "y", "x"])
    return pos


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(SETTINGS, max_examples=25)
@given(
    volume=arrays(max_side=12),
    particles=particle_tables(),
    diameter=lengths(low=3.0, high=5.0),
    moves=flags(),
)
def test_refine_gives_its_schema_or_a_clear_error(volume, particles, diameter, moves):
    refine = getattr(voxpick, "refine", None)
    if refine is None:
        pytest.skip("voxpick.refine is not in this tree")
    from voxpick.detect.schema import REFINED_COLUMNS

    try:
        found = refine(volume, particles, diameter=diameter, moves=moves)
    except (ValueError, TypeError) as err:
        assert_clear(err, "volume", "particles", "diameter", "voxel_size", "moves")
        return
    assert tuple(found.columns) == REFINED_COLUMNS
    for axis in "zyx":
        assert found[axis].dtype == np.float64 and np.isfinite(found[axis]).all()
