"""Peak finding and sub-voxel refinement on a filter response.

* :func:`local_maxima`: voxels that are the largest in a box around them and above a threshold
  (numba; it first rejects voxels that are not 3x3x3 maxima, which is most of them).
* :func:`refine_quadratic`: least-squares quadratic fit of the 3x3x3 neighbourhood of each
  peak; the vertex of the fitted paraboloid is the sub-voxel position and its value the peak
  height.
* :func:`suppress_close`: greedy non-maximum suppression in the diameter-scaled metric.
* :func:`ellipsoid_stats`: integrated intensity in an ellipsoid around each point.
"""

from __future__ import annotations

import itertools

import numba
import numpy as np
from scipy.spatial import cKDTree


@numba.njit(cache=True, nogil=True)
def _local_maxima(
    resp: np.ndarray, threshold: float, hz: int, hy: int, hx: int
) -> np.ndarray:  # pragma: no cover - compiled
    nz, ny, nx = resp.shape
    found = []
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                v = resp[z, y, x]
                if v < threshold:
                    continue
                ok = True
                # 3x3x3 first (cheap rejection), then the full box.
                for pass_ in range(2):
                    az = 1 if pass_ == 0 else hz
                    ay = 1 if pass_ == 0 else hy
                    ax = 1 if pass_ == 0 else hx
                    for zz in range(max(0, z - az), min(nz, z + az + 1)):
                        for yy in range(max(0, y - ay), min(ny, y + ay + 1)):
                            for xx in range(max(0, x - ax), min(nx, x + ax + 1)):
                                w = resp[zz, yy, xx]
                                if w > v:
                                    ok = False
                                    break
                                if w == v and (zz * ny + yy) * nx + xx < (z * ny + y) * nx + x:
                                    ok = False  # plateau: keep its first voxel only
                                    break
                            if not ok:
                                break
                        if not ok:
                            break
                    if not ok:
                        break
                if ok:
                    found.append((z, y, x))
    out = np.empty((len(found), 3), dtype=np.int64)
    for i in range(len(found)):
        out[i, 0] = found[i][0]
        out[i, 1] = found[i][1]
        out[i, 2] = found[i][2]
    return out


def maxima_half_width(sep_px: tuple[float, float, float]) -> tuple[int, int, int]:
    """Half-size of the local-maximum box for a minimum separation: half of it, at least 1.

    Parameters
    ----------
    sep_px : tuple of 3 float
        Minimum separation per axis, voxels.

    Returns
    -------
    tuple of 3 int
    """
    return (max(1, int(sep_px[0] // 2)), max(1, int(sep_px[1] // 2)), max(1, int(sep_px[2] // 2)))


def local_maxima(
    response: np.ndarray, threshold: float, half_width: tuple[int, int, int]
) -> np.ndarray:
    """Integer positions of the local maxima of ``response`` above ``threshold``.

    Parameters
    ----------
    response : numpy.ndarray
        3D float32 filter response.
    threshold : float
        Minimum response of a peak.
    half_width : tuple of 3 int
        Half-size of the box, per axis: a peak is the maximum of the ``2h + 1`` box centred
        on it (plateaus give one peak).

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` int64 (z, y, x) indices.
    """
    hz, hy, hx = (max(1, int(h)) for h in half_width)
    arr = np.ascontiguousarray(response, dtype=np.float32)
    return _local_maxima(arr, float(threshold), hz, hy, hx)


_OFFSETS = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=np.int64)
_DESIGN = np.column_stack(
    [
        np.ones(27),
        _OFFSETS[:, 0],
        _OFFSETS[:, 1],
        _OFFSETS[:, 2],
        _OFFSETS[:, 0] ** 2,
        _OFFSETS[:, 1] ** 2,
        _OFFSETS[:, 2] ** 2,
        _OFFSETS[:, 0] * _OFFSETS[:, 1],
        _OFFSETS[:, 0] * _OFFSETS[:, 2],
        _OFFSETS[:, 1] * _OFFSETS[:, 2],
    ]
).astype(float)
_PINV = np.linalg.pinv(_DESIGN)  # (10, 27)


def refine_quadratic(
    response: np.ndarray, peaks: np.ndarray, *, max_shift: float = 0.75
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-voxel peak positions and heights from a quadratic fit of the 3x3x3 neighbourhood.

    The 27 values around each peak are fitted by least squares with a full quadratic
    (10 coefficients, cross terms included, so tilted peaks are handled); the vertex of the
    paraboloid is the refined position. Where the fitted Hessian is not negative definite
    (rare: flat or saddle-shaped neighbourhoods), each axis falls back to its own 1D parabola.
    Shifts are clipped to ``max_shift`` voxels. Voxels beyond the faces repeat the face value.

    Parameters
    ----------
    response : numpy.ndarray
        3D filter response.
    peaks : numpy.ndarray
        ``(N, 3)`` integer peak positions.
    max_shift : float
        Largest allowed shift from the integer peak, voxels.

    Returns
    -------
    positions : numpy.ndarray
        ``(N, 3)`` float64 refined (z, y, x) positions.
    heights : numpy.ndarray
        ``(N,)`` fitted response at the refined positions.
    """
    n = len(peaks)
    if n == 0:
        return np.zeros((0, 3)), np.zeros(0)
    shape = np.asarray(response.shape)
    idx = peaks[:, None, :] + _OFFSETS[None, :, :]
    idx = np.clip(idx, 0, shape - 1)
    values = response[idx[..., 0], idx[..., 1], idx[..., 2]].astype(float)  # (N, 27)
    c = values @ _PINV.T  # (N, 10)
    grad = c[:, 1:4]
    hess = np.empty((n, 3, 3))
    hess[:, 0, 0], hess[:, 1, 1], hess[:, 2, 2] = 2 * c[:, 4], 2 * c[:, 5], 2 * c[:, 6]
    hess[:, 0, 1] = hess[:, 1, 0] = c[:, 7]
    hess[:, 0, 2] = hess[:, 2, 0] = c[:, 8]
    hess[:, 1, 2] = hess[:, 2, 1] = c[:, 9]
    shift = np.zeros((n, 3))
    eig = np.linalg.eigvalsh(hess)
    good = np.all(eig < 0, axis=1)
    if good.any():
        shift[good] = -np.linalg.solve(hess[good], grad[good][..., None])[..., 0]
    bad = ~good
    if bad.any():
        diag = np.diagonal(hess[bad], axis1=1, axis2=2)
        ok = diag < 0
        safe = np.where(ok, diag, -1.0)
        shift[bad] = np.where(ok, -grad[bad] / safe, 0.0)
    shift = np.clip(shift, -max_shift, max_shift)
    heights = (
        c[:, 0]
        + np.einsum("ni,ni->n", grad, shift)
        + 0.5 * np.einsum("ni,nij,nj->n", shift, hess, shift)
    )
    heights = np.maximum(heights, values[:, 13])  # never below the sampled peak voxel
    return peaks.astype(float) + shift, heights


def suppress_close(
    positions: np.ndarray, scores: np.ndarray, scale: tuple[float, float, float], radius: float
) -> np.ndarray:
    """Greedy non-maximum suppression: drop a point closer than ``radius`` to a better one.

    Distances are measured after dividing each axis by ``scale`` (e.g. the diameter per axis, so
    that ``radius=0.5`` means half a diameter in every direction).

    Parameters
    ----------
    positions : numpy.ndarray
        ``(N, 3)`` positions.
    scores : numpy.ndarray
        ``(N,)`` scores; higher wins.
    scale : tuple of 3 float
        Per-axis scale.
    radius : float
        Suppression radius in scaled units.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the points kept.
    """
    n = len(positions)
    keep = np.ones(n, dtype=bool)
    if n < 2 or radius <= 0:
        return keep
    tree = cKDTree(positions / np.asarray(scale))
    pairs = tree.query_pairs(radius, output_type="ndarray")
    if len(pairs) == 0:
        return keep
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-scores, kind="stable")] = np.arange(n)
    # Orient every pair as (better, worse) and visit them from the best point down.
    a, b = pairs[:, 0], pairs[:, 1]
    swap = rank[a] > rank[b]
    better = np.where(swap, b, a)
    worse = np.where(swap, a, b)
    order = np.argsort(rank[better], kind="stable")
    for i, j in zip(better[order], worse[order], strict=True):
        if keep[i]:
            keep[j] = False
    return keep


def ellipsoid_offsets(radius_px: tuple[float, float, float]) -> np.ndarray:
    """Integer offsets inside an ellipsoid with the given semi-axes.

    Parameters
    ----------
    radius_px : tuple of 3 float
        Semi-axes (z, y, x), voxels.

    Returns
    -------
    numpy.ndarray
        ``(M, 3)`` int64 offsets (at least the centre).
    """
    r = np.maximum(np.asarray(radius_px, dtype=float), 0.5)
    h = np.floor(r).astype(int)
    grids = np.meshgrid(*[np.arange(-k, k + 1) for k in h], indexing="ij")
    offs = np.stack([g.ravel() for g in grids], axis=1)
    inside = ((offs / r) ** 2).sum(axis=1) <= 1.0
    return offs[inside].astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _ellipsoid_stats(
    volume: np.ndarray, centres: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    nz, ny, nx = volume.shape
    n = centres.shape[0]
    sums = np.zeros(n)
    counts = np.zeros(n)
    for i in range(n):
        cz, cy, cx = centres[i, 0], centres[i, 1], centres[i, 2]
        acc = 0.0
        cnt = 0
        for k in range(offsets.shape[0]):
            z = cz + offsets[k, 0]
            y = cy + offsets[k, 1]
            x = cx + offsets[k, 2]
            if 0 <= z < nz and 0 <= y < ny and 0 <= x < nx:
                acc += volume[z, y, x]
                cnt += 1
        sums[i] = acc
        counts[i] = cnt
    return sums, counts


def ellipsoid_stats(
    volume: np.ndarray, centres: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sum and number of the voxels of ``volume`` at ``centres + offsets`` inside the volume.

    Parameters
    ----------
    volume : numpy.ndarray
        3D volume.
    centres : numpy.ndarray
        ``(N, 3)`` integer centres.
    offsets : numpy.ndarray
        ``(M, 3)`` integer offsets (see :func:`ellipsoid_offsets`).

    Returns
    -------
    sums : numpy.ndarray
        ``(N,)`` sums over the voxels inside the volume.
    counts : numpy.ndarray
        ``(N,)`` how many voxels were inside.
    """
    if len(centres) == 0:
        return np.zeros(0), np.zeros(0)
    return _ellipsoid_stats(
        np.ascontiguousarray(volume),
        np.ascontiguousarray(centres, dtype=np.int64),
        np.ascontiguousarray(offsets, dtype=np.int64),
    )
