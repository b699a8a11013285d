"""Fisher information of the image model: the fit's curvature and the Cramer-Rao bound.

For Gaussian noise of variance ``v(x)`` the Fisher information of the parameters ``theta`` is
``F = J^T diag(1 / v) J`` with ``J`` the derivative of the expected image. The parameters of
one particle (position z, y, x, brightness, size) couple to those of its neighbours where
their blurred images overlap, so each particle's covariance is read from the inverse of the
Fisher matrix of the particle and its neighbours together (the Schur complement, which lets the
neighbours move too). Diagonal blocks use the actual weights around each particle; blocks
between two particles use the cross-correlation of the template derivatives at their exact
offset, weighted by the pair's mean weight. ``sqrt(diag(F^-1))`` is the smallest standard
deviation an unbiased estimator can reach (Cramer-Rao); at the fit it is the fit's own
uncertainty (the ``sigma_z, sigma_y, sigma_x`` columns).
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.fft
from scipy.spatial import cKDTree

from voxpick.refinement.model import Canvas, ImageModel, margin_for
from voxpick.refinement.render import N_PARAMS


def template_jacobian(model: ImageModel, *, size: float | None = None) -> np.ndarray:
    """Render the derivative images of one particle of brightness 1 at a voxel centre.

    Parameters
    ----------
    model : ImageModel
    size : float, optional
        Particle size (default the model's mean).

    Returns
    -------
    numpy.ndarray
        ``(5, pz, py, px)`` float32 (position z, y, x, brightness, size), the particle at the
        centre voxel of the odd-sized patch.
    """
    s = model.size if size is None else size
    half = np.asarray(margin_for(model, size_max=s))
    patch = tuple(int(2 * m + 1) for m in half)
    canvas = Canvas(np.zeros(patch, np.float32), (0, 0, 0), model.with_(background=(0, 0, 0, 0)))
    centre = half[None].astype(float)
    out = np.empty((N_PARAMS, *patch), np.float32)
    for j in range(N_PARAMS):
        step = np.zeros((1, N_PARAMS))
        step[0, j] = 1.0
        out[j] = canvas.tangent(centre, np.ones(1), np.array([s]), step)
    return out


def template_gram(jac: np.ndarray) -> np.ndarray:
    """``J^T J`` of a template jacobian (unit weights), ``(5, 5)``."""
    flat = jac.reshape(len(jac), -1).astype(np.float64)
    return flat @ flat.T


def _correlations(jac: np.ndarray) -> np.ndarray:
    """Cross-correlation ``C[j, l](d) = sum_x J_j(x) J_l(x - d)`` for every channel pair."""
    n = len(jac)
    shape = tuple(2 * s - 1 for s in jac.shape[1:])
    fast = tuple(scipy.fft.next_fast_len(s, real=True) for s in shape)
    spec = scipy.fft.rfftn(jac.astype(np.float64), s=fast, axes=(1, 2, 3), workers=-1)
    out = np.empty((n, n, *shape), np.float32)
    centre = tuple(s - 1 for s in jac.shape[1:])
    for j in range(n):
        for m in range(j, n):
            c = scipy.fft.irfftn(spec[j] * np.conj(spec[m]), s=fast, workers=-1)
            c = np.roll(c, centre, axis=(0, 1, 2))[: shape[0], : shape[1], : shape[2]]
            out[j, m] = c
            out[m, j] = c[::-1, ::-1, ::-1]
    return out


@numba.njit(cache=True)
def _trilinear(table: np.ndarray, c: np.ndarray, d: np.ndarray, out: np.ndarray) -> bool:
    """``out[j, m] = table[j, m]`` at offset ``d`` from the centre ``c`` (False: outside)."""
    idx = np.empty(3, np.int64)
    frac = np.empty(3)
    for a in range(3):
        t = c[a] + d[a]
        i = int(np.floor(t))
        if i < 0 or i + 1 >= table.shape[2 + a]:
            return False
        idx[a] = i
        frac[a] = t - i
    for j in range(table.shape[0]):
        for m in range(table.shape[1]):
            v = 0.0
            for corner in range(8):
                w = 1.0
                o = np.empty(3, np.int64)
                for a in range(3):
                    bit = (corner >> a) & 1
                    o[a] = idx[a] + bit
                    w *= frac[a] if bit else 1.0 - frac[a]
                v += w * table[j, m, o[0], o[1], o[2]]
            out[j, m] = v
    return True


@numba.njit(cache=True)
def _diagonal_blocks(
    jac: np.ndarray, weights: np.ndarray, centres: np.ndarray, out: np.ndarray, wmean: np.ndarray
) -> None:
    """``sum_x J0(x - c_i) w(x) J0(x - c_i)^T`` per particle, the template at the nearest voxel."""
    n_ch, pz, py, px = jac.shape
    hz, hy, hx = pz // 2, py // 2, px // 2
    nz, ny, nx = weights.shape
    for i in range(centres.shape[0]):
        cz = int(np.rint(centres[i, 0]))
        cy = int(np.rint(centres[i, 1]))
        cx = int(np.rint(centres[i, 2]))
        acc = np.zeros((n_ch, n_ch))
        num = 0.0
        den = 0.0
        for z in range(max(0, cz - hz), min(nz, cz + hz + 1)):
            for y in range(max(0, cy - hy), min(ny, cy + hy + 1)):
                for x in range(max(0, cx - hx), min(nx, cx + hx + 1)):
                    w = weights[z, y, x]
                    tz, ty, tx = z - cz + hz, y - cy + hy, x - cx + hx
                    t3 = jac[3, tz, ty, tx]
                    num += w * t3 * t3
                    den += t3 * t3
                    for j in range(n_ch):
                        v = w * jac[j, tz, ty, tx]
                        for m in range(j, n_ch):
                            acc[j, m] += v * jac[m, tz, ty, tx]
        for j in range(n_ch):
            for m in range(j, n_ch):
                out[i, j, m] = acc[j, m]
                out[i, m, j] = acc[j, m]
        wmean[i] = num / den if den > 0 else 0.0


#: Neighbours (nearest first) whose coupling enters a particle's covariance.
MAX_NEIGHBOURS = 14


@numba.njit(cache=True)
def _local_covariances(
    diag: np.ndarray,
    wmean: np.ndarray,
    scale: np.ndarray,
    local: np.ndarray,
    table: np.ndarray,
    centre: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    out: np.ndarray,
) -> None:
    """Each particle's block of the inverse Fisher matrix of it and its neighbours."""
    k = diag.shape[1]
    cross = np.zeros((k, k))
    for i in range(diag.shape[0]):
        start, stop = indptr[i], indptr[i + 1]
        m = 1 + stop - start
        members = np.empty(m, np.int64)
        members[0] = i
        members[1:] = indices[start:stop]
        big = np.zeros((m * k, m * k))
        for a in range(m):
            p = members[a]
            big[a * k : (a + 1) * k, a * k : (a + 1) * k] = diag[p]
        for a in range(m):
            p = members[a]
            for b in range(a + 1, m):
                q = members[b]
                if not _trilinear(table, centre, local[q] - local[p], cross):
                    continue
                w = np.sqrt(max(wmean[p], 0.0) * max(wmean[q], 0.0))
                for j in range(k):
                    for c in range(k):
                        v = w * cross[j, c] * scale[p, j] * scale[q, c]
                        big[a * k + j, b * k + c] = v
                        big[b * k + c, a * k + j] = v
        for j in range(m * k):
            big[j, j] += 1e-12 * (1.0 + abs(big[j, j]))
        # the approximate cross blocks can make a strongly coupled system indefinite: shrink
        # them until the particle's variances are positive (at worst: the particle alone)
        shrink = 1.0
        for _ in range(6):
            inv = np.linalg.inv(big)
            ok = True
            for j in range(k):
                if not inv[j, j] > 0.0:
                    ok = False
            if ok:
                break
            shrink *= 0.5
            for a in range(m):
                for b in range(m):
                    if a != b:
                        big[a * k : (a + 1) * k, b * k : (b + 1) * k] *= 0.5
        if shrink < 0.02:
            inv = np.linalg.inv(big[:k, :k])
        out[i] = inv[:k, :k]


def particle_covariance(
    model: ImageModel,
    weights: np.ndarray,
    positions: np.ndarray,
    amps: np.ndarray,
    *,
    free_size: bool,
    origin: tuple[int, int, int] = (0, 0, 0),
    jac: np.ndarray | None = None,
) -> np.ndarray:
    """Covariance of each particle's parameters from the Fisher information.

    Parameters
    ----------
    model : ImageModel
    weights : numpy.ndarray
        Inverse noise variance of every voxel of the box (0 where there are no data).
    positions : numpy.ndarray
        ``(N, 3)`` centres, whole-volume voxels.
    amps : numpy.ndarray
        ``(N,)`` brightness.
    free_size : bool
        Whether the sizes are fitted (else they are known and left out).
    origin : tuple of 3 int
        Where ``weights[0, 0, 0]`` lies in the whole volume.
    jac : numpy.ndarray, optional
        :func:`template_jacobian` of the model (computed when not given).

    Returns
    -------
    numpy.ndarray
        ``(N, k, k)`` with ``k`` 5 (position z, y, x, brightness, size) or 4 (no size).
    """
    n = len(positions)
    k = N_PARAMS if free_size else N_PARAMS - 1
    if n == 0:
        return np.zeros((0, k, k))
    jac = template_jacobian(model) if jac is None else jac
    jac = np.ascontiguousarray(jac[:k])
    local = np.ascontiguousarray(np.asarray(positions, float) - np.asarray(origin, float))
    amps = np.asarray(amps, float)
    diag = np.zeros((n, k, k))
    wmean = np.zeros(n)
    _diagonal_blocks(jac, np.ascontiguousarray(weights, dtype=np.float32), local, diag, wmean)
    scale = np.ones((n, k))
    scale[:, :3] = amps[:, None]
    if k == N_PARAMS:
        scale[:, 4] = amps
    diag *= scale[:, :, None] * scale[:, None, :]
    table = _correlations(jac)
    centre = np.array([(s - 1) / 2 for s in table.shape[2:]], float)
    reach = np.array(jac.shape[1:], float) - 1.0
    tree = cKDTree(local / reach)
    dist, idx = tree.query(local / reach, k=min(n, MAX_NEIGHBOURS + 1), distance_upper_bound=1.0)
    dist, idx = np.atleast_2d(dist), np.atleast_2d(idx)
    rows = []
    for i in range(n):
        near = idx[i][(idx[i] != i) & (idx[i] < n)]
        near = near[np.all(np.abs(local[near] - local[i]) < reach, axis=1)]
        rows.append(near)
    indptr = np.zeros(n + 1, np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.concatenate(rows).astype(np.int64) if indptr[-1] else np.zeros(0, np.int64)
    cov = np.zeros((n, k, k))
    _local_covariances(diag, wmean, scale, local, table, centre, indptr, indices, cov)
    return cov
