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
        items = list(value) if isinstance(value, Sequence) else list(np.asarray(value).ravel())
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


#: More blocks than this, with cores narrower than their halo, is refused as a mistake.
MAX_SMALL_BLOCKS = 1000


def block_count(shape: Sequence[int], chunks: Sequence[int]) -> int:
    """Count the blocks whose cores of edge ``chunks`` tile a volume of ``shape``.

    Parameters
    ----------
    shape : sequence of 3 int
    chunks : sequence of 3 int

    Returns
    -------
    int
    """
    return math.prod(math.ceil(int(n) / int(c)) for n, c in zip(shape, chunks, strict=True))


def check_block_size(
    chunks: Any,
    *,
    core: Sequence[int],
    halo: Sequence[int],
    shape: Sequence[int],
    diameter_px: Sequence[float],
    align: Sequence[int] = (1, 1, 1),
) -> None:
    """Refuse cores too small to be worth a block: narrower than a particle, or many tiny ones.

    A core narrower than one particle diameter owns less than a particle; many cores narrower
    than their halo read the volume many times over (a core as wide as its halo reads 27 times
    the voxels it owns). Both come from ``chunks`` set far too small (e.g. ``chunks=4``).

    Parameters
    ----------
    chunks : object
        What the caller asked for (for the message).
    core, halo : sequence of 3 int
        The resolved core edge and halo per axis.
    shape : sequence of 3 int
        Volume shape.
    diameter_px : sequence of 3 float
        Particle diameter per axis, voxels.
    align : sequence of 3 int
        The detector's block alignment (the suggested minimum is rounded up to it).

    Raises
    ------
    ValueError
        A core narrower than one diameter along an axis cut into several cores, or more than
        :data:`MAX_SMALL_BLOCKS` blocks with cores narrower than their halo; the message names
        the block count and a sensible minimum ``chunks``.
    """
    cut = [int(c) < int(n) for c, n in zip(core, shape, strict=True)]
    need_d = [math.ceil(d) for d in diameter_px]
    thin = [ax for ax, c, d, k in zip("zyx", core, need_d, cut, strict=True) if k and c < d]
    small = [ax for ax, c, h, k in zip("zyx", core, halo, cut, strict=True) if k and c < h]
    n_blocks = block_count(shape, core)
    if not thin and not (small and n_blocks > MAX_SMALL_BLOCKS):
        return
    least = [
        min(int(n), int(math.ceil(max(h, d) / a) * a))
        for h, d, a, n in zip(halo, need_d, align, shape, strict=True)
    ]
    suggest = tuple(max(c, m) for c, m in zip(core, least, strict=True))
    if thin:
        why = f"narrower than one particle diameter {tuple(need_d)} along {', '.join(thin)}"
    else:
        why = (
            f"narrower than their halo {tuple(int(h) for h in halo)} along {', '.join(small)}, "
            f"so the run reads the volume many times over"
        )
    raise ValueError(
        f"chunks={chunks!r} makes {n_blocks} blocks with cores of {tuple(core)} voxels, {why}: "
        f"expected cores of at least {suggest} voxels, e.g. chunks={suggest} "
        f"({block_count(shape, suggest)} blocks), or leave chunks=None for the default "
        f"({DEFAULT_CHUNK})."
    )


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
