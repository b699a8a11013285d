"""Block geometry of a chunked run: cores that tile the volume, halos around them, ownership.

A volume is cut into **cores**, axis-aligned boxes that tile it exactly (no gaps, no overlap).
Each block is its core grown by a **halo** of ``overlap`` voxels per axis (clipped at the
volume's faces); the detector runs on the whole block, and a detection is kept only by the
block whose core holds its **owner voxel** ``floor(position + 0.5)`` (the voxel whose centre is
nearest, ties rounded up, clipped into the volume). Every position has exactly one owner voxel
and every voxel lies in exactly one core, so the merged table has no duplicates and, as long as
the halo is wider than what the detector looks at around a particle, no losses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Default core edge, voxels: a 256^3 core plus halos is about 30 M voxels (120 MB as float32).
DEFAULT_CHUNK = 256


@dataclass(frozen=True)
class Block:
    """One block of a chunked run.

    Attributes
    ----------
    index : tuple of 3 int
        Position of the block in the grid of blocks, (z, y, x).
    core_start, core_stop : tuple of 3 int
        The core, ``[start, stop)`` per axis: the voxels this block owns.
    outer_start, outer_stop : tuple of 3 int
        The core plus its halo, clipped to the volume: the voxels the detector sees.
    """

    index: tuple[int, int, int]
    core_start: tuple[int, int, int]
    core_stop: tuple[int, int, int]
    outer_start: tuple[int, int, int]
    outer_stop: tuple[int, int, int]

    @property
    def name(self) -> str:
        """Stable name of the block, e.g. ``"b0003_0001_0000"`` (z, y, x grid index)."""
        return "b{:04d}_{:04d}_{:04d}".format(*self.index)

    @property
    def outer(self) -> tuple[slice, slice, slice]:
        """Slices of the volume that the detector reads for this block."""
        return (
            slice(self.outer_start[0], self.outer_stop[0]),
            slice(self.outer_start[1], self.outer_stop[1]),
            slice(self.outer_start[2], self.outer_stop[2]),
        )

    @property
    def outer_shape(self) -> tuple[int, int, int]:
        """Shape of the block including its halo."""
        return (
            self.outer_stop[0] - self.outer_start[0],
            self.outer_stop[1] - self.outer_start[1],
            self.outer_stop[2] - self.outer_start[2],
        )

    def owns(self, positions: np.ndarray, shape: Sequence[int]) -> np.ndarray:
        """Which of the given volume positions belong to this block's core.

        Parameters
        ----------
        positions : numpy.ndarray
            ``(N, 3)`` positions in volume voxels (z, y, x).
        shape : sequence of 3 int
            Shape of the whole volume (positions are clipped into it).

        Returns
        -------
        numpy.ndarray
            ``(N,)`` boolean mask.
        """
        owner = owner_voxel(positions, shape)
        inside = (owner >= np.asarray(self.core_start)) & (owner < np.asarray(self.core_stop))
        return np.all(inside, axis=1)


def owner_voxel(positions: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Voxel that owns each position: ``floor(p + 0.5)`` per axis, clipped into the volume.

    Parameters
    ----------
    positions : numpy.ndarray
        ``(N, 3)`` positions in voxels (z, y, x); voxel ``i`` spans ``i - 0.5`` to ``i + 0.5``.
    shape : sequence of 3 int
        Volume shape.

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` int64 voxel indices.
    """
    pos = np.asarray(positions, dtype=float).reshape(-1, 3)
    idx = np.floor(pos + 0.5).astype(np.int64)
    return np.clip(idx, 0, np.asarray(shape, dtype=np.int64) - 1)


def _as_int_triple(value: Any, *, name: str, minimum: int, hint: str) -> tuple[int, int, int]:
    """Expand an int or a (z, y, x) sequence of ints, checking each is at least ``minimum``."""
    if isinstance(value, bool):
        raise TypeError(f"{name}={value!r} is not an integer: expected an int or (z, y, x). {hint}")
    if isinstance(value, int | np.integer):
        items = [value, value, value]
    elif isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
        items = list(np.asarray(value).ravel())
        if len(items) != 3:
            raise ValueError(
                f"{name}={value!r} has {len(items)} values: expected one int or three (z, y, x). "
                f"{hint}"
            )
    else:
        raise TypeError(f"{name}={value!r} is not an integer: expected an int or (z, y, x). {hint}")
    out = []
    for item in items:
        if isinstance(item, bool) or not (
            isinstance(item, int | np.integer)
            or (isinstance(item, float | np.floating) and float(item).is_integer())
        ):
            raise TypeError(f"{name}={value!r} holds {item!r}: expected whole numbers. {hint}")
        if int(item) < minimum:
            raise ValueError(f"{name}={value!r} holds {item!r}: expected >= {minimum}. {hint}")
        out.append(int(item))
    return (out[0], out[1], out[2])


def resolve_chunks(
    chunks: Any, shape: Sequence[int], *, align: Sequence[int] = (1, 1, 1)
) -> tuple[int, int, int]:
    """Core edge per axis: ``chunks`` (or the default), rounded up to a multiple of ``align``.

    Parameters
    ----------
    chunks : int, sequence of 3 int or None
        Core edge in voxels, one for all axes or (z, y, x); ``None`` or ``"auto"`` for
        :data:`DEFAULT_CHUNK`. Larger than the volume means one block along that axis.
    shape : sequence of 3 int
        Volume shape.
    align : sequence of 3 int
        Cores start at multiples of this (the classical detector's local-background grid).

    Returns
    -------
    tuple of 3 int
        Core edge per axis, at most the volume's extent.
    """
    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        edge = (DEFAULT_CHUNK, DEFAULT_CHUNK, DEFAULT_CHUNK)
    else:
        edge = _as_int_triple(
            chunks, name="chunks", minimum=1, hint="It is the core edge in voxels, e.g. 256."
        )
    out = []
    for e, a, n in zip(edge, align, shape, strict=True):
        rounded = int(math.ceil(e / a) * a)
        out.append(min(rounded, int(n)))
    return (out[0], out[1], out[2])


def resolve_overlap(
    overlap: Any, *, default: Sequence[int], diameter_px: Sequence[float], align: Sequence[int]
) -> tuple[int, int, int]:
    """Halo per axis: ``overlap`` or the method's default, rounded up to a multiple of ``align``.

    Parameters
    ----------
    overlap : int, sequence of 3 int or None
        Halo in voxels per axis; ``None`` for ``default``.
    default : sequence of 3 int
        The method's default halo (one diameter plus its context).
    diameter_px : sequence of 3 float
        Particle diameter in voxels; the halo must be at least one diameter.
    align : sequence of 3 int
        The halo is rounded up to a multiple of this, so blocks start on the alignment grid.

    Returns
    -------
    tuple of 3 int
    """
    if overlap is None:
        halo = tuple(int(h) for h in default)
    else:
        halo = _as_int_triple(
            overlap,
            name="overlap",
            minimum=0,
            hint="It is the halo around each block in voxels (z, y, x); None picks the default.",
        )
        short = [ax for ax, h, d in zip("zyx", halo, diameter_px, strict=True) if h < math.ceil(d)]
        if short:
            need = tuple(math.ceil(d) for d in diameter_px)
            raise ValueError(
                f"overlap={overlap!r} is narrower than one particle diameter {need} voxels along "
                f"{', '.join(short)}: expected at least {need} (z, y, x). A narrower halo loses "
                f"particles at block borders; leave overlap=None for the default "
                f"{tuple(default)}."
            )
    out = [int(math.ceil(h / a) * a) for h, a in zip(halo, align, strict=True)]
    return (out[0], out[1], out[2])


def plan_blocks(
    shape: Sequence[int], *, chunks: Sequence[int], overlap: Sequence[int]
) -> list[Block]:
    """Cut a volume into blocks whose cores tile it and whose halos are ``overlap`` wide.

    Parameters
    ----------
    shape : sequence of 3 int
        Volume shape (z, y, x).
    chunks : sequence of 3 int
        Core edge per axis (the last core along an axis may be shorter).
    overlap : sequence of 3 int
        Halo per axis, clipped at the volume's faces.

    Returns
    -------
    list of Block
        In C order of their grid index (z slowest).

    Examples
    --------
    >>> blocks = plan_blocks((10, 20, 20), chunks=(10, 8, 20), overlap=(2, 2, 2))
    >>> [b.core_start for b in blocks], blocks[1].outer_start, blocks[1].outer_stop
    ([(0, 0, 0), (0, 8, 0), (0, 16, 0)], (0, 6, 0), (10, 18, 20))
    """
    edges = []
    for n, c in zip(shape, chunks, strict=True):
        starts = list(range(0, int(n), int(c)))
        edges.append([(s, min(s + int(c), int(n))) for s in starts])
    blocks = []
    for iz, (z0, z1) in enumerate(edges[0]):
        for iy, (y0, y1) in enumerate(edges[1]):
            for ix, (x0, x1) in enumerate(edges[2]):
                start = (z0, y0, x0)
                stop = (z1, y1, x1)
                outer0 = tuple(max(0, s - h) for s, h in zip(start, overlap, strict=True))
                outer1 = tuple(
                    min(int(n), e + h) for e, h, n in zip(stop, overlap, shape, strict=True)
                )
                blocks.append(
                    Block(
                        (iz, iy, ix),
                        start,
                        stop,
                        (outer0[0], outer0[1], outer0[2]),
                        (outer1[0], outer1[1], outer1[2]),
                    )
                )
    return blocks
