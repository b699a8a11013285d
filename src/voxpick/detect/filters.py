"""Image filters of the classical detector: noise level, band-pass (LoG) and local background.

Everything here works on ``float32`` volumes with axes (z, y, x) and anisotropic scales given
per axis in voxels.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

#: Gaussian MAD-to-sigma factor, ``1 / Phi^-1(3/4)``.
MAD_TO_SIGMA = 1.482602218505602

#: Standard deviation of the second difference ``a[i-1] - 2 a[i] + a[i+1]`` of unit white noise.
SECOND_DIFF_GAIN = math.sqrt(6.0)


#: Voxels (about) that :func:`estimate_noise` samples, every ``step``-th z slice.
NOISE_SAMPLE_VOXELS = 100_000


def estimate_noise(volume: np.ndarray) -> float:
    """Robust standard deviation of the voxel noise, insensitive to the particles.

    The noise is measured on the second differences along x and y, which remove the smooth
    (blurred) particle signal but keep white noise; the median absolute deviation of those
    differences ignores the few voxels where edges leak through.

    Parameters
    ----------
    volume : numpy.ndarray
        3D float volume.

    Returns
    -------
    float
        Noise standard deviation in grey levels; never below the quantisation noise of one
        grey level step (``1/sqrt(12)``) for integer-valued data, or a tiny positive floor for
        a perfectly smooth volume, so that scores stay finite.
    """
    # A subset of slices (about 1e5 voxels, 2e5 differences) is plenty and keeps it fast.
    step = max(1, int(volume.size // NOISE_SAMPLE_VOXELS))
    step = min(step, max(1, volume.shape[0] // 4))
    sub = volume[::step]
    parts = []
    if sub.shape[2] >= 3:
        parts.append((sub[:, :, :-2] + sub[:, :, 2:] - 2.0 * sub[:, :, 1:-1]).ravel())
    if sub.shape[1] >= 3:
        parts.append((sub[:, :-2, :] + sub[:, 2:, :] - 2.0 * sub[:, 1:-1, :]).ravel())
    if not parts:
        return 1.0
    d = np.concatenate(parts)
    mad = float(np.median(np.abs(d - np.median(d))))
    sigma = MAD_TO_SIGMA * mad / SECOND_DIFF_GAIN
    scale = float(np.max(np.abs(sub))) if sub.size else 0.0
    floor = max(1e-6 * scale, 1e-12)
    if np.all(np.equal(np.mod(sub[:, :4, :4], 1.0), 0.0)):
        floor = max(floor, 1.0 / math.sqrt(12.0))
    return max(sigma, floor)


@dataclass(frozen=True)
class BandPass:
    """Output of :func:`log_filter`.

    Attributes
    ----------
    response : numpy.ndarray
        Scale-normalised negative Laplacian of Gaussian of the volume (float32): bright blobs
        of the filter's size give positive peaks at their centres, in grey levels. It extends
        ``margin`` voxels beyond every face, so that a particle centred just outside the volume
        peaks outside it (and can be told apart from one centred just inside).
    noise_gain : float
        L2 norm of the filter kernel: white noise of standard deviation ``s`` in the volume has
        standard deviation ``s * noise_gain`` in ``response``.
    margin : tuple of 3 int
        Extra voxels of ``response`` before and after the volume along each axis:
        ``response[m0 + z, m1 + y, m2 + x]`` belongs to voxel ``(z, y, x)``.
    roughness : float
        ``sqrt(det(Lambda))`` of the filtered white noise normalised to unit variance, where
        ``Lambda`` is the covariance of its gradient (per voxel squared); it sets how many noise
        peaks a volume holds (see :func:`expected_noise_peaks`).
    """

    response: np.ndarray
    noise_gain: float
    margin: tuple[int, int, int]
    roughness: float


def _workers(workers: int | None) -> int:
    if workers is None:  # the cores this process may use (taskset, containers), at most 8
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        return max(1, min(usable or os.cpu_count() or 1, 8))
    return max(1, int(workers))


def _separable_sum(moments: list[tuple[float, float, float]]) -> float:
    """Sum over the grid of ``(q_z + q_y + q_x)**2 * prod_a g_a**2`` from per-axis moments.

    ``moments[a] = (sum g_a**2, sum g_a**2 q_a, sum g_a**2 q_a**2)`` (half-spectrum weights
    included), so the 3D sum never has to be formed.
    """
    m0 = [m[0] for m in moments]
    total = 0.0
    for i in range(3):
        others = [m0[a] for a in range(3) if a != i]
        total += moments[i][2] * others[0] * others[1]
        for j in range(3):
            if j != i:
                rest = next(m0[a] for a in range(3) if a not in (i, j))
                total += moments[i][1] * moments[j][1] * rest
    return total


def log_filter(
    volume: np.ndarray,
    sigma: tuple[float, float, float],
    *,
    z_blur_var: float = 0.0,
    wiener: float = 0.05,
    margin: int = 2,
    workers: int | None = None,
) -> BandPass:
    """Scale-normalised Laplacian-of-Gaussian band-pass, computed with one FFT.

    The response is ``-sum_i sigma_i**2 d2/dx_i**2 (G_sigma * volume)``: zero-mean (constant and
    linearly varying backgrounds vanish), and for each axis weighted by its own scale so that an
    anisotropic blob matched by an anisotropic ``sigma`` responds like an isotropic one.
    Optionally an extra Gaussian blur along z is partly undone in the same pass (Wiener
    deconvolution), which separates particles that the confocal PSF merges along z.

    Before the FFT the volume is padded by repeating its faces, so that nothing wraps around
    and a particle cut by a face keeps its peak on the side of the face where its centre is
    (mostly: see ``docs/locate.md``).

    Parameters
    ----------
    volume : numpy.ndarray
        3D float32 volume.
    sigma : tuple of 3 float
        Gaussian scale per axis (z, y, x), voxels.
    z_blur_var : float
        Variance (voxels squared) of an extra Gaussian blur along z to undo (see
        :func:`estimate_z_blur`); 0 leaves the volume as it is.
    wiener : float
        Regularisation of that deconvolution (noise-to-signal ratio); the largest gain is
        ``(1 + wiener) / (2 sqrt(wiener))``.
    margin : int
        Voxels of response kept beyond each face.
    workers : int, optional
        FFT threads (default: all cores, at most 8).

    Returns
    -------
    BandPass
        Response, noise gain, margin and roughness.
    """
    return log_filters(
        volume, [sigma], z_blur_var=z_blur_var, wiener=wiener, margin=margin, workers=workers
    )[0]


def log_filters(
    volume: np.ndarray,
    sigmas: Sequence[tuple[float, float, float]],
    *,
    z_blur_var: float = 0.0,
    wiener: float = 0.05,
    margin: int = 2,
    workers: int | None = None,
) -> list[BandPass]:
    """:func:`log_filter` at several scales from one forward FFT.

    The padding is that of the largest scale, for every scale.

    Parameters
    ----------
    volume : numpy.ndarray
        3D float32 volume.
    sigmas : sequence of tuple of 3 float
        Gaussian scales per axis (z, y, x), voxels.
    z_blur_var, wiener, margin, workers
        As for :func:`log_filter`.

    Returns
    -------
    list of BandPass
        One per scale, in order.
    """
    pad, shape = _padded_grid(volume.shape, sigmas, margin)
    padded = np.pad(volume, [(p, p) for p in pad], mode="edge")
    keep = tuple(min(margin, p) for p in pad)
    nw = _workers(workers)
    spectrum = sfft.rfftn(padded, shape, workers=nw)
    del padded
    omega = _omega(shape)
    wide = tuple(slice(p - k, p + n + k) for p, k, n in zip(pad, keep, volume.shape, strict=True))
    out = []
    for sigma in sigmas:
        response, noise_gain, roughness = _log_response(
            spectrum, shape, omega, sigma, z_blur_var=z_blur_var, wiener=wiener, workers=nw
        )
        out.append(
            BandPass(
                np.ascontiguousarray(response[wide], dtype=np.float32),
                noise_gain,
                (keep[0], keep[1], keep[2]),
                roughness,
            )
        )
    return out


def _padded_grid(
    shape: Sequence[int], sigmas: Sequence[tuple[float, float, float]], margin: int
) -> tuple[list[int], list[int]]:
    """Return the padding per face and the FFT grid (fast lengths) of :func:`log_filters`."""
    top = [max(s[a] for s in sigmas) for a in range(3)]
    pad = [max(min(n - 1, math.ceil(3.0 * s) + margin), 0) for n, s in zip(shape, top, strict=True)]
    grid = [sfft.next_fast_len(n + 2 * p, real=True) for n, p in zip(shape, pad, strict=True)]
    return pad, grid


def _omega(grid: Sequence[int]) -> list[np.ndarray]:
    """Return the angular frequencies of the real FFT of ``grid``, per axis."""
    two_pi = 2.0 * math.pi
    return [
        two_pi * sfft.fftfreq(grid[0]),
        two_pi * sfft.fftfreq(grid[1]),
        two_pi * sfft.rfftfreq(grid[2]),
    ]


def _log_response(
    spectrum: np.ndarray,
    shape: list[int],
    omega: list[np.ndarray],
    sigma: tuple[float, float, float],
    *,
    z_blur_var: float,
    wiener: float,
    workers: int,
) -> tuple[np.ndarray, float, float]:
    """Return the filtered volume (padded grid), noise gain and roughness of one LoG scale."""
    q, g = _log_factors(omega, sigma, z_blur_var=z_blur_var, wiener=wiener)
    # Transfer function (q_z + q_y + q_x) g_z g_y g_x, built from 1D factors.
    gyx = (g[1][:, None] * g[2][None, :]).astype(np.float32)
    qgyx = ((q[1][:, None] + q[2][None, :]) * gyx).astype(np.float32)
    gz = g[0].astype(np.float32)[:, None, None]
    transfer = gz * (q[0].astype(np.float32)[:, None, None] * gyx + qgyx)
    response = sfft.irfftn(spectrum * transfer, shape, workers=workers)
    noise_gain, roughness = _gain_and_roughness(shape, omega, q, g)
    return response, noise_gain, roughness


def _log_factors(
    omega: list[np.ndarray], sigma: tuple[float, float, float], *, z_blur_var: float, wiener: float
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return the per-axis factors ``q_a = (sigma_a w_a)**2`` and ``g_a`` of the LoG transfer."""
    q = [s * s * w * w for s, w in zip(sigma, omega, strict=True)]
    g = [np.exp(-0.5 * qa) for qa in q]
    if z_blur_var > 0:
        # Wiener-regularised inverse of the extra z blur: about 1/b where the blur keeps
        # signal, rolling off where it would only amplify noise.
        b = np.exp(-0.5 * z_blur_var * omega[0] ** 2)
        g[0] = g[0] * (1.0 + wiener) * b / (b * b + wiener)
    return q, g


def _gain_and_roughness(
    shape: list[int], omega: list[np.ndarray], q: list[np.ndarray], g: list[np.ndarray]
) -> tuple[float, float]:
    """Return the noise gain and roughness of the LoG on the padded grid (data-independent)."""
    # Parseval on the padded grid, separably; the rfft half counts twice except DC/Nyquist.
    weights = [np.ones(shape[0]), np.ones(shape[1]), np.full(len(omega[2]), 2.0)]
    weights[2][0] = 1.0
    if shape[2] % 2 == 0:
        weights[2][-1] = 1.0

    def moments(axis: int, extra: np.ndarray | float = 1.0) -> tuple[float, float, float]:
        base = weights[axis] * g[axis] ** 2 * extra
        return (
            float(base.sum()),
            float((base * q[axis]).sum()),
            float((base * q[axis] ** 2).sum()),
        )

    plain = [moments(a) for a in range(3)]
    total = _separable_sum(plain)
    noise_gain = math.sqrt(total / float(np.prod(shape)))
    lam = []
    for a in range(3):
        mom = list(plain)
        mom[a] = moments(a, omega[a] ** 2)
        lam.append(_separable_sum(mom) / total)
    return noise_gain, math.sqrt(lam[0] * lam[1] * lam[2])


def log_roughness(
    shape: Sequence[int],
    sigma: tuple[float, float, float],
    *,
    z_blur_var: float = 0.0,
    wiener: float = 0.05,
    margin: int = 2,
) -> float:
    """``BandPass.roughness`` of :func:`log_filter` on a volume of ``shape``, without filtering.

    The roughness depends on the filter and the padded grid only, not on the voxels, so it is
    computed from the transfer function alone (no FFT of the volume).

    Parameters
    ----------
    shape : sequence of 3 int
        Shape of the volume :func:`log_filter` would filter.
    sigma, z_blur_var, wiener, margin
        As for :func:`log_filter`.

    Returns
    -------
    float
    """
    grid = _padded_grid(shape, [sigma], margin)[1]
    omega = _omega(grid)
    q, g = _log_factors(omega, sigma, z_blur_var=z_blur_var, wiener=wiener)
    return _gain_and_roughness(grid, omega, q, g)[1]


def expected_noise_peaks(u: np.ndarray, volume_voxels: float, roughness: float) -> np.ndarray:
    """Return the expected number of peaks above ``u`` noise standard deviations in white noise.

    This is the expected Euler characteristic of the excursion set of a smooth 3D Gaussian
    random field, ``V sqrt(det Lambda) (2 pi)^-2 (u^2 - 1) exp(-u^2 / 2)``, which equals the
    expected number of local maxima above a high level ``u`` (random field theory).

    Parameters
    ----------
    u : numpy.ndarray
        Levels in noise standard deviations (meaningful for ``u >= 2``).
    volume_voxels : float
        Searched volume, voxels.
    roughness : float
        ``BandPass.roughness``.

    Returns
    -------
    numpy.ndarray
        Expected counts.
    """
    u = np.asarray(u, dtype=float)
    density = roughness / (2.0 * math.pi) ** 2 * np.maximum(u * u - 1.0, 0.0) * np.exp(-u * u / 2)
    return volume_voxels * density


def local_background(
    volume: np.ndarray, diameter_px: tuple[float, float, float], points: np.ndarray
) -> np.ndarray:
    """Local background level (the gaps between particles) at given points.

    The volume is averaged in blocks of about half a diameter, the minimum is taken over about
    two and a half diameters (there is always a gap that close, even in a dense packing) and
    smoothed, then interpolated at ``points``. It follows slow illumination gradients.

    Parameters
    ----------
    volume : numpy.ndarray
        3D float volume.
    diameter_px : tuple of 3 float
        Particle diameter per axis, voxels.
    points : numpy.ndarray
        ``(N, 3)`` positions (voxels) where the background is wanted.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` background levels.
    """
    if len(points) == 0:
        return np.zeros(0)
    f = [max(1, min(n, int(d // 2))) for n, d in zip(volume.shape, diameter_px, strict=True)]
    cut = [n - n % k if n >= k else n for n, k in zip(volume.shape, f, strict=True)]
    block = volume[: cut[0], : cut[1], : cut[2]]
    nb = [max(1, c // k) for c, k in zip(cut, f, strict=True)]
    coarse = block[: nb[0] * f[0], : nb[1] * f[1], : nb[2] * f[2]]
    coarse = coarse.reshape(nb[0], f[0], nb[1], f[1], nb[2], f[2]).mean(axis=(1, 3, 5))
    coarse = ndimage.minimum_filter(coarse, size=5, mode="nearest")
    coarse = ndimage.uniform_filter(coarse, size=3, mode="nearest")
    coords = (np.asarray(points, dtype=float) - (np.asarray(f) - 1) / 2.0) / np.asarray(f)
    return ndimage.map_coordinates(coarse, coords.T, order=1, mode="nearest")


def estimate_z_blur(
    volume: np.ndarray,
    diameter_px: tuple[float, float, float],
    noise_sigma: float,
    *,
    workers: int | None = None,
    max_edge: int = 96,
) -> float:
    """Extra Gaussian blur variance along z relative to y/x (voxels squared), from the data.

    A packing of spheres is isotropic once each axis is scaled by the particle diameter, so
    its power spectrum depends only on the scaled frequency ``|u|``. An extra Gaussian blur of
    variance ``D`` along z multiplies the power by ``exp(-D w_z**2)``; within each shell of
    ``|u|`` the log-power therefore falls linearly with ``w_z**2``, with slope ``-D``. The
    power is averaged in (shell, direction) bins, the white-noise floor is subtracted, and
    ``D`` is the pooled least-squares slope over the bins where the signal clearly dominates.

    Parameters
    ----------
    volume : numpy.ndarray
        3D float volume.
    diameter_px : tuple of 3 float
        Particle diameter per axis, voxels.
    noise_sigma : float
        Voxel noise standard deviation (sets the noise floor of the spectrum).
    workers : int, optional
        FFT threads.
    max_edge : int
        The estimate uses a central crop of at most this many voxels per axis.

    Returns
    -------
    float
        ``D >= 0``; 0 when the volume is too small or carries no usable signal.
    """
    crop = tuple(
        slice(max(0, (n - max_edge) // 2), max(0, (n - max_edge) // 2) + min(n, max_edge))
        for n in volume.shape
    )
    sub = volume[crop].astype(np.float32)
    if min(sub.shape) < 8:
        return 0.0
    sub = sub - np.float32(sub.mean())
    windows = [np.hanning(n + 2)[1:-1].astype(np.float32) for n in sub.shape]
    sub = sub * windows[0][:, None, None] * windows[1][None, :, None] * windows[2][None, None, :]
    norm = float(np.prod([np.sum(w.astype(np.float64) ** 2) for w in windows]))
    power = np.abs(sfft.rfftn(sub, workers=_workers(workers))) ** 2 / norm
    two_pi = 2.0 * math.pi
    wz = two_pi * sfft.fftfreq(sub.shape[0])[:, None, None]
    wy = two_pi * sfft.fftfreq(sub.shape[1])[None, :, None]
    wx = two_pi * sfft.rfftfreq(sub.shape[2])[None, None, :]
    uz, uy, ux = (w * d / 2.0 for w, d in zip((wz, wy, wx), diameter_px, strict=True))
    u = np.sqrt(uz**2 + uy**2 + ux**2)
    mu2 = np.divide(uz**2, u**2, out=np.zeros_like(u), where=u > 0)
    # Shells (scaled frequency) up to the Nyquist limit of the least sampled axis, x direction
    # bins; the structure factor varies with |u| but not with the direction.
    u_max = min(math.pi * d / 2.0 for d in diameter_px)
    n_shell, n_dir = 24, 8
    shells = np.linspace(0.5, max(1.0, u_max), n_shell + 1)
    shell_idx = np.digitize(u, shells) - 1
    dir_idx = np.minimum((mu2 * n_dir).astype(np.int64), n_dir - 1)
    valid = (shell_idx >= 0) & (shell_idx < n_shell)
    flat = (shell_idx * n_dir + dir_idx)[valid]
    nbin = n_shell * n_dir
    count = np.bincount(flat, minlength=nbin).astype(float)
    psum = np.bincount(flat, weights=power[valid], minlength=nbin)
    wsum = np.bincount(flat, weights=np.broadcast_to(wz**2, u.shape)[valid], minlength=nbin)
    with np.errstate(invalid="ignore", divide="ignore"):
        signal = psum / count - noise_sigma**2
        use = (count >= 20) & (signal > 3.0 * noise_sigma**2)
    ys = np.log(signal[use])
    xs = wsum[use] / count[use]
    ws = count[use]
    groups = np.arange(nbin)[use] // n_dir
    if len(ys) < 4:
        return 0.0
    y, x, w, g = ys, xs, ws, groups
    yc, xc = y.copy(), x.copy()
    for s in np.unique(g):
        m = g == s
        yc[m] -= np.average(y[m], weights=w[m])
        xc[m] -= np.average(x[m], weights=w[m])
    denom = float(np.sum(w * xc * xc))
    if denom <= 0:
        return 0.0
    slope = float(np.sum(w * xc * yc)) / denom
    return max(0.0, -slope)
