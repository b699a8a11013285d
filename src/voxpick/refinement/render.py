"""The differentiable renderer of the image model: anti-aliased spheres, their derivatives.

A particle ``i`` is a solid ellipsoid of semi-axes ``size_i * semi_axes`` (voxels; a sphere in
physical units when the voxels are anisotropic) centred at ``p_i`` with brightness ``amp_i``.
Each voxel gets ``amp_i`` times the fraction of it that the particle covers, measured on
``k**3`` sub-samples with a linear ramp one sub-sample wide at the surface (the simulator's
anti-aliasing, :mod:`voxpick.simulate.render`, exactly so for spheres), so the rendered volume
changes smoothly when a particle moves by a fraction of a voxel. Particles add (hard spheres do
not overlap, so adding equals the simulator's maximum).

Three kernels share that definition: :func:`render` (the occupancy), :func:`render_tangent`
(its derivative along given parameter steps: a Jacobian-vector product) and
:func:`pull_back` (the transpose: the gradient of ``sum(q * occupancy)`` with respect to every
particle's position, size and brightness). Blurring is left to the caller
(:mod:`voxpick.refinement.model`).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

#: Per-particle parameters, in this order: position (z, y, x), brightness, size.
N_PARAMS = 5


@numba.njit(cache=True, inline="always")
def _ramp_scale(h: np.ndarray, k: int) -> float:
    return k * (h[0] * h[1] * h[2]) ** (1.0 / 3.0)


@numba.njit(cache=True)
def _visit(
    canvas_shape: tuple[int, int, int],
    centre: np.ndarray,
    size: float,
    h: np.ndarray,
    k: int,
    mode: int,
    q: np.ndarray,
    target: np.ndarray,
    direction: np.ndarray,
    out: np.ndarray,
) -> None:
    """Walk one particle's voxels; ``mode`` 0 renders, 1 renders a tangent, 2 pulls back.

    Row by row along x, the voxels inside ``size - margin`` (normalised radius) are fully
    covered and those beyond ``size + margin`` not at all; only the shell between them is
    sub-sampled.
    """
    scale = _ramp_scale(h, k)
    hmin = min(h[0], min(h[1], h[2]))
    # sub-samples lie within (1 - 1/k) sqrt(3) / 2 voxels of their voxel's centre
    margin = (1.0 - 1.0 / k) * 0.866026 / hmin + 0.5 / scale + 1e-9
    outer2 = (size + margin) ** 2
    inner = size - margin
    inner2 = inner * inner if inner > 0 else -1.0
    inv_k3 = 1.0 / (k * k * k)
    sub = np.empty(k)
    for j in range(k):
        sub[j] = (j + 0.5) / k - 0.5
    z_lo = max(0, math.floor(centre[0] - (size + margin) * h[0]))
    z_hi = min(canvas_shape[0] - 1, math.ceil(centre[0] + (size + margin) * h[0]))
    for z in range(z_lo, z_hi + 1):
        dz = (z - centre[0]) / h[0]
        qz = dz * dz
        if qz > outer2:
            continue
        ry = math.sqrt(outer2 - qz) * h[1]
        y_lo = max(0, math.floor(centre[1] - ry))
        y_hi = min(canvas_shape[1] - 1, math.ceil(centre[1] + ry))
        for y in range(y_lo, y_hi + 1):
            dy = (y - centre[1]) / h[1]
            qzy = qz + dy * dy
            if qzy > outer2:
                continue
            rx = math.sqrt(outer2 - qzy) * h[2]
            x_lo = max(0, math.floor(centre[2] - rx))
            x_hi = min(canvas_shape[2] - 1, math.ceil(centre[2] + rx))
            # fully covered run [f_lo, f_hi]
            f_lo = 1
            f_hi = 0
            if inner2 > qzy:
                rin = math.sqrt(inner2 - qzy) * h[2]
                f_lo = math.ceil(centre[2] - rin)
                f_hi = math.floor(centre[2] + rin)
            for x in range(x_lo, x_hi + 1):
                if f_lo <= x <= f_hi:
                    if mode == 0:
                        target[z, y, x] += direction[3]
                    elif mode == 1:
                        target[z, y, x] += direction[3]
                    else:
                        out[3] += q[z, y, x]
                    continue
                cover = 0.0
                gz = 0.0
                gy = 0.0
                gx = 0.0
                gs = 0.0
                for iz in range(k):
                    sz = dz + sub[iz] / h[0]
                    for iy in range(k):
                        sy = dy + sub[iy] / h[1]
                        szy = sz * sz + sy * sy
                        for ix in range(k):
                            sx = (x + sub[ix] - centre[2]) / h[2]
                            rho = math.sqrt(szy + sx * sx)
                            c = (size - rho) * scale + 0.5
                            if c >= 1.0:
                                cover += 1.0
                            elif c > 0.0:
                                cover += c
                                if mode > 0 and rho > 1e-12:
                                    # d cover / d centre_a = scale * (s_a / h_a) / rho
                                    f = scale / rho
                                    gz += f * sz / h[0]
                                    gy += f * sy / h[1]
                                    gx += f * sx / h[2]
                                    gs += scale
                if cover == 0.0:
                    continue
                cover *= inv_k3
                if mode == 0:
                    target[z, y, x] += direction[3] * cover
                elif mode == 1:
                    d = gz * direction[0] + gy * direction[1] + gx * direction[2]
                    d += gs * direction[4]
                    target[z, y, x] += direction[3] * cover + inv_k3 * direction[5] * d
                else:
                    w = q[z, y, x]
                    out[0] += w * gz * inv_k3
                    out[1] += w * gy * inv_k3
                    out[2] += w * gx * inv_k3
                    out[3] += w * cover
                    out[4] += w * gs * inv_k3


@numba.njit(cache=True, parallel=True)
def _draw_all(
    canvas: np.ndarray, centres: np.ndarray, sizes: np.ndarray, amps: np.ndarray,
    steps: np.ndarray, h: np.ndarray, k: int, mode: int, order: np.ndarray, starts: np.ndarray,
) -> None:  # fmt: skip
    """Render (mode 0) or render a tangent (mode 1), z slabs in parallel.

    Particles come sorted into z slabs (``order``, slab ``j`` holding
    ``order[starts[j]:starts[j + 1]]``) at least twice as thick as a particle's reach, so
    that particles of slabs of the same parity never write the same voxel: the even slabs
    run in parallel, then the odd ones.
    """
    shape = (canvas.shape[0], canvas.shape[1], canvas.shape[2])
    n_slabs = len(starts) - 1
    for parity in range(2):
        for j in numba.prange((n_slabs - parity + 1) // 2):
            slab = 2 * j + parity
            d = np.zeros(6)
            dummy = np.zeros((1, 1, 1), np.float32)
            out = np.zeros(5)
            for m in range(starts[slab], starts[slab + 1]):
                i = order[m]
                if mode == 0:
                    d[3] = amps[i]
                else:
                    for c in range(5):
                        d[c] = steps[i, c]
                    d[5] = amps[i]
                _visit(shape, centres[i], sizes[i], h, k, mode, dummy, canvas, d, out)


def _slabs(centres: np.ndarray, sizes: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort particles into z slabs thicker than twice a particle's reach along z."""
    if len(centres) == 0:
        return np.zeros(0, np.int64), np.zeros(1, np.int64)
    # a particle writes within size * h_z plus its anti-aliasing margin (< h_z / min(h)) + 1
    reach = float(sizes.max()) * h[0] + h[0] / float(h.min()) + 2.0
    height = 2.0 * reach + 1.0
    slab = np.floor(centres[:, 0] / height).astype(np.int64)
    slab -= slab.min()
    order = np.argsort(slab, kind="stable").astype(np.int64)
    starts = np.searchsorted(slab[order], np.arange(slab.max() + 2)).astype(np.int64)
    return order, starts


@numba.njit(cache=True, parallel=True)
def _pull_back_all(
    q: np.ndarray, centres: np.ndarray, sizes: np.ndarray, amps: np.ndarray, h: np.ndarray,
    k: int, grad: np.ndarray,
) -> None:  # fmt: skip
    shape = (q.shape[0], q.shape[1], q.shape[2])
    for i in numba.prange(centres.shape[0]):
        d = np.zeros(6)
        dummy = np.zeros((1, 1, 1), np.float32)
        out = np.zeros(5)
        _visit(shape, centres[i], sizes[i], h, k, 2, q, dummy, d, out)
        amp = amps[i]
        grad[i, 0] = amp * out[0]
        grad[i, 1] = amp * out[1]
        grad[i, 2] = amp * out[2]
        grad[i, 3] = out[3]
        grad[i, 4] = amp * out[4]


def _prepare(centres: np.ndarray, sizes: np.ndarray, amps: np.ndarray, h: Any) -> tuple:
    return (
        np.ascontiguousarray(centres, dtype=np.float64).reshape(-1, 3),
        np.ascontiguousarray(sizes, dtype=np.float64).ravel(),
        np.ascontiguousarray(amps, dtype=np.float64).ravel(),
        np.ascontiguousarray(h, dtype=np.float64),
    )


def render(
    shape: tuple[int, int, int],
    centres: np.ndarray,
    sizes: np.ndarray,
    amps: np.ndarray,
    semi_axes: tuple[float, float, float],
    *,
    oversample: int = 2,
) -> np.ndarray:
    """Render the particles' occupancy times brightness on a grid of ``shape``.

    Parameters
    ----------
    shape : tuple of 3 int
        Grid shape (z, y, x).
    centres : numpy.ndarray
        ``(N, 3)`` centres in grid voxels.
    sizes : numpy.ndarray
        ``(N,)`` size factors: the semi-axes of particle ``i`` are ``sizes[i] * semi_axes``.
    amps : numpy.ndarray
        ``(N,)`` brightness above the background.
    semi_axes : tuple of 3 float
        Semi-axes (voxels) of a particle of size 1.
    oversample : int
        Sub-samples per voxel and axis.

    Returns
    -------
    numpy.ndarray
        float32 grid.
    """
    canvas = np.zeros(shape, np.float32)
    c, s, a, h = _prepare(centres, sizes, amps, semi_axes)
    order, starts = _slabs(c, s, h)
    _draw_all(canvas, c, s, a, np.zeros((1, 5)), h, int(oversample), 0, order, starts)
    return canvas


def render_tangent(
    shape: tuple[int, int, int],
    centres: np.ndarray,
    sizes: np.ndarray,
    amps: np.ndarray,
    steps: np.ndarray,
    semi_axes: tuple[float, float, float],
    *,
    oversample: int = 2,
) -> np.ndarray:
    """Differentiate :func:`render` along ``steps`` (a Jacobian-vector product).

    Parameters
    ----------
    shape, centres, sizes, amps, semi_axes, oversample
        As :func:`render`.
    steps : numpy.ndarray
        ``(N, 5)`` parameter steps per particle: position (z, y, x), brightness, size.

    Returns
    -------
    numpy.ndarray
        float32 grid: the first-order change of the rendered occupancy.
    """
    canvas = np.zeros(shape, np.float32)
    c, s, a, h = _prepare(centres, sizes, amps, semi_axes)
    st = np.ascontiguousarray(steps, dtype=np.float64).reshape(-1, N_PARAMS)
    order, starts = _slabs(c, s, h)
    _draw_all(canvas, c, s, a, st, h, int(oversample), 1, order, starts)
    return canvas


def pull_back(
    q: np.ndarray,
    centres: np.ndarray,
    sizes: np.ndarray,
    amps: np.ndarray,
    semi_axes: tuple[float, float, float],
    *,
    oversample: int = 2,
) -> np.ndarray:
    """Gradient of ``sum(q * render(...))`` with respect to every particle's parameters.

    Parameters
    ----------
    q : numpy.ndarray
        A grid of the rendered shape (float32), e.g. the blurred weighted residual.
    centres, sizes, amps, semi_axes, oversample
        As :func:`render`.

    Returns
    -------
    numpy.ndarray
        ``(N, 5)``: derivatives by position (z, y, x), brightness and size.
    """
    c, s, a, h = _prepare(centres, sizes, amps, semi_axes)
    grad = np.zeros((len(c), N_PARAMS))
    _pull_back_all(np.ascontiguousarray(q, dtype=np.float32), c, s, a, h, int(oversample), grad)
    return grad
