"""Tiled prediction of a fully convolutional network over a volume of any size.

:func:`predict_channels` cuts the (padded) volume into cores, predicts each from a window that
extends ``margin`` voxels beyond it, and stitches the cores. The networks here have no global
operation (eval-mode batch norm is a fixed affine map), so the stitched output equals a
whole-volume prediction up to the influence of context beyond the margin. Used by the colloid
U-Net (:mod:`voxpick.ml`) and the cryo-ET picker (:mod:`voxpick.cryoet`). Each block runs in the
runtime :func:`voxpick.nn.runtime.block_runner` chooses (OpenVINO or ONNX Runtime on the CPU).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator

import numpy as np
import torch

from voxpick.nn.runtime import block_runner

#: A box: one slice per axis (z, y, x).
Box = tuple[slice, slice, slice]

#: Default core edge (model voxels) of one inference block: volumes up to 256 + 2 margins per
#: axis run as one block (each extra block repeats its margins: 128 cost 1.4 times the work at
#: 256^3); about 1.5 GB of runtime buffers at the largest block.
DEFAULT_TILE = 256


def _blocks(extent: int, tile: int, margin: int) -> list[tuple[int, int, int, int]]:
    """Split ``[0, extent)`` into cores with windows: ``(core_lo, core_hi, win_lo, win_hi)``."""
    if extent <= tile + 2 * margin:
        return [(0, extent, 0, extent)]
    mult = math.gcd(tile, margin, extent)
    n = math.ceil(extent / tile)
    core = math.ceil(extent / n / mult) * mult
    out = []
    for a in range(0, extent, core):
        b = min(extent, a + core)
        out.append((a, b, max(0, a - margin), min(extent, b + margin)))
    return out


def _take(image: np.ndarray, index: list[np.ndarray]) -> np.ndarray:
    """``image`` at the outer product of per-axis indices, as a contiguous float32 copy."""
    out = image
    for axis, idx in enumerate(index):
        if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
            out = out[(slice(None),) * axis + (slice(int(idx[0]), int(idx[0]) + len(idx)),)]
        else:  # the window reaches into the mirrored padding
            out = np.take(out, idx, axis=axis)
    return np.ascontiguousarray(out, dtype=np.float32)


def predict_blocks(
    image: np.ndarray,
    net: torch.nn.Module,
    *,
    device: torch.device,
    size_multiple: int,
    tile: int = DEFAULT_TILE,
    margin: int,
    border: int = 0,
    progress: Callable[[int, int], None] | None = None,
    keep: int = 0,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Iterator[tuple[Box, np.ndarray, Box]]:
    """Output maps of a fully convolutional network over a volume, one block at a time.

    The volume is padded (mirrored) to a multiple of ``size_multiple`` only block by block,
    so no padded copy of the whole volume is made; the caller keeps what it needs of each
    block (:func:`predict_channels` stitches the cores). The cores tile the volume.

    Parameters
    ----------
    image : numpy.ndarray
        Volume (z, y, x) at the network's scale: normalised float32, or anything ``prepare``
        normalises.
    net : torch.nn.Module
        Network in eval mode, mapping ``(1, 1, Z, Y, X)`` to ``(1, C, Z, Y, X)``.
    device : torch.device
        Where ``net`` lives.
    size_multiple : int
        Every block edge given to ``net`` is a multiple of this.
    tile : int
        Core edge of one block (rounded up to ``size_multiple``).
    margin : int
        Context on every side of a core (voxels, rounded up to ``size_multiple``).
    border : int
        Mirror padding at the volume faces; the far ends are always padded to the multiple.
    progress : callable, optional
        Called as ``progress(done, total)`` after each block.
    keep : int
        Also return the output this many voxels around the core (within the volume; at most
        ``margin``), for post-processing that needs a neighbourhood.
    prepare : callable, optional
        Applied to each window before the network: a voxel-wise normalisation given here
        spares a normalised copy of the whole volume.

    Yields
    ------
    where : tuple of 3 slice
        The region returned: the block's core grown by ``keep``, in ``image``.
    maps : numpy.ndarray
        float32 ``(C, *region shape)``: the network's output on the region.
    core : tuple of 3 slice
        The core, in ``maps``.
    """
    mult = int(size_multiple)
    if not isinstance(tile, int | np.integer) or tile < 1:
        raise ValueError(f"tile={tile!r} must be a positive int (model voxels), e.g. 128.")
    if not isinstance(margin, int | np.integer) or margin < 1:
        raise ValueError(f"margin={margin!r} must be a positive int (model voxels).")
    tile = int(math.ceil(tile / mult) * mult)
    margin = int(math.ceil(margin / mult) * mult)
    if not 0 <= keep <= margin:
        raise ValueError(f"keep={keep!r} must be from 0 to margin={margin}.")
    shape = image.shape
    extent = [math.ceil((n + 2 * border) / mult) * mult for n in shape]
    pads = [(border, e - n - border) for n, e in zip(shape, extent, strict=True)]
    mode = "reflect" if min(shape) >= 2 else "edge"
    # voxel of ``image`` at each position of the padded volume, per axis
    index = [np.pad(np.arange(n), p, mode=mode) for n, p in zip(shape, pads, strict=True)]  # type: ignore[call-overload]
    blocks = list(itertools.product(*[_blocks(e, tile, margin) for e in extent]))
    run = block_runner(net, device)
    for done, block in enumerate(blocks, start=1):
        window = _take(image, [index[a][b[2] : b[3]] for a, b in enumerate(block)])
        if prepare is not None:
            window = np.ascontiguousarray(prepare(window), dtype=np.float32)
        y = run(window[None, None])[0]
        src, dst, core = [], [], []
        for a, b in enumerate(block):  # core (+ keep), less the padding, in window and image
            first, end = pads[a][0], pads[a][0] + shape[a]  # the image in padded voxels
            lo, hi = max(b[0], first), min(b[1], end)
            glo, ghi = max(b[0] - keep, b[2], first), min(b[1] + keep, b[3], end)
            src.append(slice(glo - b[2], ghi - b[2]))
            dst.append(slice(glo - first, ghi - first))
            core.append(slice(lo - glo, max(lo, hi) - glo))
        if progress is not None:
            progress(done, len(blocks))
        if all(c.stop > c.start for c in core):
            yield (dst[0], dst[1], dst[2]), y[(slice(None), *src)], (core[0], core[1], core[2])


def predict_channels(
    image: np.ndarray,
    net: torch.nn.Module,
    *,
    device: torch.device,
    size_multiple: int,
    tile: int = DEFAULT_TILE,
    margin: int,
    border: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """All output maps of a fully convolutional network over a volume, block by block.

    Parameters
    ----------
    image, net, device, size_multiple, tile, margin, border, progress
        As for :func:`predict_blocks`.

    Returns
    -------
    numpy.ndarray
        float32 ``(C, Z, Y, X)``: the stitched core of every block.
    """
    logits: np.ndarray | None = None
    for where, maps, _ in predict_blocks(
        image, net, device=device, size_multiple=size_multiple, tile=tile, margin=margin,
        border=border, progress=progress,
    ):  # fmt: skip
        if logits is None:
            logits = np.empty((maps.shape[0], *image.shape), dtype=np.float32)
        logits[(slice(None), *where)] = maps
    assert logits is not None  # at least one block always exists
    return logits
