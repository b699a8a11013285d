"""The confocal image model: spheres -> blur + anisotropic PSF -> zoom -> noise -> uint8.

The steps follow the colloid challenge's simulator:

1. **Background**: a constant level ``b_mean`` (optionally times an illumination gradient).
2. **Foreground**: every sphere is drawn at its own brightness with sub-voxel centres on a grid
   ``oversample`` times finer than the output; edge voxels get their fractional coverage
   (anti-aliasing), so a sphere moved by 0.1 voxel changes the image.
3. **Zoom**: the fine grid is averaged down by ``oversample`` (block mean, as a camera pixel
   integrates light); what remains of the sub-voxel detail is the aliasing real stacks have.
4. **Blur + PSF**: a Gaussian optical blur and an anisotropic Gaussian confocal PSF (z elongated)
   whose size in voxels follows the physical particle size. Both are Gaussian, so they are applied
   as one convolution (variances add). The volume is rendered with a margin so that the blur at
   the faces sees the particles outside the field of view, as a real stack does.
5. **Noise**: Gaussian, standard deviation ``sigma = f_mean / SNR``; the background level is set
   from the contrast, ``b_mean = f_mean - CNR * sigma`` (bright particles) or
   ``b_mean = f_mean + CNR * sigma`` (dark particles).

SNR and CNR follow the challenge's definitions, ``SNR = f_mean / f_sigma`` and
``CNR = |f_mean - b_mean| / sqrt((f_sigma**2 + b_sigma**2) / 2)``, with ``f_sigma = b_sigma``
(the noise is the same everywhere), so ``CNR = |f_mean - b_mean| / sigma``. ``f_mean`` and
``b_mean`` are the levels of the object (inside a particle, far from any particle); blur lowers
the contrast actually seen between touching small particles, which is what makes them hard.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import ndimage

#: FWHM = 2 sqrt(2 ln 2) sigma for a Gaussian.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def psf_sigma_px(
    *, radius: float, particle_size: float, psf_fwhm_xy_um: float, psf_aspect: float
) -> tuple[float, float, float]:
    """PSF standard deviation in output voxels (z, y, x) for a particle of ``radius`` px.

    Parameters
    ----------
    radius : float
        Particle radius in voxels.
    particle_size : float
        Particle radius in micrometres (the colloid challenge's convention); sets the voxel
        size, ``particle_size / radius`` micrometres.
    psf_fwhm_xy_um : float
        Lateral full width at half maximum of the confocal PSF, micrometres.
    psf_aspect : float
        Axial over lateral PSF width (confocal: 2-3).

    Returns
    -------
    tuple of float
        Gaussian sigma in voxels along (z, y, x).
    """
    voxel_um = particle_size / radius
    sxy = psf_fwhm_xy_um / FWHM_PER_SIGMA / voxel_um
    return (sxy * psf_aspect, sxy, sxy)


@numba.njit(cache=True)
def _draw_spheres(
    canvas: np.ndarray, centres: np.ndarray, radii: np.ndarray, levels: np.ndarray, k: int
) -> None:
    """Draw spheres on a fine grid (``k`` fine voxels per output voxel), anti-aliased.

    Output voxel ``i`` has its centre at coordinate ``i``; fine voxel ``j`` has its centre at
    ``(j + 0.5) / k - 0.5``. Each fine voxel takes ``max`` over the spheres covering it of
    ``level * coverage`` where coverage ramps linearly over one fine voxel at the surface.
    """
    nz, ny, nx = canvas.shape
    for p in range(centres.shape[0]):
        c0 = (centres[p, 0] + 0.5) * k - 0.5
        c1 = (centres[p, 1] + 0.5) * k - 0.5
        c2 = (centres[p, 2] + 0.5) * k - 0.5
        rr = radii[p] * k
        lo0 = max(0, math.floor(c0 - rr - 1))
        hi0 = min(nz, math.ceil(c0 + rr + 2))
        lo1 = max(0, math.floor(c1 - rr - 1))
        hi1 = min(ny, math.ceil(c1 + rr + 2))
        lo2 = max(0, math.floor(c2 - rr - 1))
        hi2 = min(nx, math.ceil(c2 + rr + 2))
        lev = levels[p]
        for z in range(lo0, hi0):
            dz2 = (z - c0) ** 2
            for y in range(lo1, hi1):
                dzy2 = dz2 + (y - c1) ** 2
                for x in range(lo2, hi2):
                    d = math.sqrt(dzy2 + (x - c2) ** 2)
                    cover = rr - d + 0.5
                    if cover <= 0.0:
                        continue
                    if cover > 1.0:
                        cover = 1.0
                    v = lev * cover
                    if v > canvas[z, y, x]:
                        canvas[z, y, x] = v


def render_occupancy(
    shape: tuple[int, int, int],
    centres: np.ndarray,
    radii: np.ndarray,
    levels: np.ndarray,
    *,
    oversample: int = 2,
) -> np.ndarray:
    """Render spheres at sub-voxel positions and average down by ``oversample``.

    Parameters
    ----------
    shape : tuple of int
        Output shape (z, y, x).
    centres : numpy.ndarray
        ``(N, 3)`` centres in output voxels (voxel centres at integer coordinates).
    radii : numpy.ndarray
        ``(N,)`` radii in output voxels.
    levels : numpy.ndarray
        ``(N,)`` intensity of each sphere above the background.
    oversample : int
        Fine-grid factor (the challenge's "zoom"); 1 disables it.

    Returns
    -------
    numpy.ndarray
        float32 array of ``shape``: ``level * covered fraction`` of each voxel.
    """
    k = int(oversample)
    fine = np.zeros(tuple(s * k for s in shape), dtype=np.float32)
    _draw_spheres(
        fine,
        np.ascontiguousarray(centres, dtype=np.float64),
        np.ascontiguousarray(radii, dtype=np.float64),
        np.ascontiguousarray(levels, dtype=np.float64),
        k,
    )
    if k == 1:
        return fine
    return fine.reshape(shape[0], k, shape[1], k, shape[2], k).mean(axis=(1, 3, 5))


def blur(image: np.ndarray, sigma: tuple[float, float, float]) -> np.ndarray:
    """Anisotropic Gaussian convolution (in place on float32 data when possible)."""
    if max(sigma) <= 0:
        return image
    return ndimage.gaussian_filter(image, sigma=sigma, mode="nearest", truncate=3.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round and clip to the 8-bit range."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
