"""Tiled prediction of a fully convolutional network over a volume of any size.

:func:`predict_channels` cuts the (padded) volume into cores, predicts each from a window that
extends ``margin`` voxels beyond it, and stitches the cores. The networks here have no global
operation (eval-mode batch norm is a fixed affine map), so the stitched output equals a
whole-volume prediction up to the influence of context beyond the margin. Used by the colloid
U-Net (:mod:`voxpick.ml`) and the cryo-ET picker (:mod:`voxpick.cryoet`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import torch

#: Default core edge (model voxels) of one inference block.
DEFAULT_TILE = 128


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
    image : numpy.ndarray
        Normalised float32 volume (z, y, x) at the network's scale.
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

    Returns
    -------
    numpy.ndarray
        float32 ``(C, Z, Y, X)``: the stitched core of every block.
    """
    mult = int(size_multiple)
    if not isinstance(tile, int | np.integer) or tile < 1:
        raise ValueError(f"tile={tile!r} must be a positive int (model voxels), e.g. 128.")
    if not isinstance(margin, int | np.integer) or margin < 1:
        raise ValueError(f"margin={margin!r} must be a positive int (model voxels).")
    tile = int(math.ceil(tile / mult) * mult)
    margin = int(math.ceil(margin / mult) * mult)
    shape = image.shape
    extent = [math.ceil((n + 2 * border) / mult) * mult for n in shape]
    pads = [(border, e - n - border) for n, e in zip(shape, extent, strict=True)]
    mode = "reflect" if min(shape) >= 2 else "edge"
    padded = np.pad(image.astype(np.float32, copy=False), pads, mode=mode)  # type: ignore[call-overload]
    per_axis = [_blocks(e, tile, margin) for e in extent]
    blocks = list(itertools.product(*per_axis))
    logits: np.ndarray | None = None
    with torch.inference_mode():
        for done, block in enumerate(blocks, start=1):
            win = tuple(slice(b[2], b[3]) for b in block)
            x = torch.from_numpy(np.ascontiguousarray(padded[win]))[None, None].to(device)
            y = net(x)[0].float().cpu().numpy()
            if logits is None:
                logits = np.empty((y.shape[0], *padded.shape), dtype=np.float32)
            core = tuple(slice(b[0] - b[2], b[1] - b[2]) for b in block)
            dst = tuple(slice(b[0], b[1]) for b in block)
            logits[(slice(None), *dst)] = y[(slice(None), *core)]
            if progress is not None:
                progress(done, len(blocks))
    assert logits is not None  # at least one block always exists
    crop = tuple(slice(p[0], p[0] + n) for p, n in zip(pads, shape, strict=True))
    return logits[(slice(None), *crop)]
