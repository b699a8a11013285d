"""Simulated confocal volumes of colloids with exact ground truth."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from voxpick.simulate.noise import add_shot_noise, noise_levels
from voxpick.simulate.packing import LAYOUTS, pack_spheres
from voxpick.simulate.render import blur, psf_sigma_px, render_occupancy, to_uint8
from voxpick.validation import RngLike, make_rng

#: Metadata columns of the colloid challenge, in its order, followed by ours.
CHALLENGE_METADATA_COLUMNS = (
    "volfrac", "r", "particle_size", "brightness", "SNR", "CNR", "b_sigma", "f_sigma",
)  # fmt: skip


@dataclass
class SimulatedVolume:
    """A simulated volume and its exact truth.

    Attributes
    ----------
    volume : numpy.ndarray
        uint8 image, axes (z, y, x).
    truth : pandas.DataFrame
        One row per particle whose centre lies inside the volume: ``z, y, x`` (voxels, voxel
        centres at integer coordinates), ``r`` (radius, voxels), ``brightness``.
    metadata : dict
        The challenge's columns (volfrac, r, particle_size, brightness, SNR, CNR, b_sigma,
        f_sigma) plus n_particles, seed and every other parameter used.
    """

    volume: np.ndarray
    truth: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def positions(self) -> np.ndarray:
        """Truth positions as an ``(N, 3)`` array in (z, y, x)."""
        return self.truth[["z", "y", "x"]].to_numpy()


def _check_shape(shape: int | tuple[int, ...]) -> tuple[int, int, int]:
    dims = (shape,) * 3 if isinstance(shape, int | np.integer) else tuple(shape)
    if len(dims) != 3 or not all(isinstance(d, int | np.integer) and d > 0 for d in dims):
        raise ValueError(f"shape={shape!r} is invalid: expected a positive int or 3 positive ints.")
    return (int(dims[0]), int(dims[1]), int(dims[2]))


def _check_finite_range(name: str, value: float, lo: float, hi: float, hint: str = "") -> None:
    if not (isinstance(value, int | float | np.floating) and math.isfinite(value)):
        raise ValueError(f"{name}={value!r} is not a finite number.")
    if not lo <= value <= hi:
        raise ValueError(f"{name}={value!r} is out of range: expected {lo} to {hi}. {hint}".strip())


def simulate_volume(
    shape: int | tuple[int, int, int] = 64,
    *,
    radius: float = 5.0,
    volfrac: float = 0.3,
    polydispersity: float = 0.0,
    particle_size: float = 1.0,
    brightness: float = 200.0,
    snr: float = 10.0,
    cnr: float = 5.0,
    brightness_spread: float = 0.1,
    psf_fwhm_xy_um: float = 0.2,
    psf_aspect: float = 2.5,
    blur_sigma: float = 0.5,
    gradient: float = 0.0,
    invert: bool = False,
    layout: str = "fluid",
    oversample: int = 2,
    sweeps: int = 30,
    rng: RngLike = None,
) -> SimulatedVolume:
    """Simulate a confocal volume of colloids with exact particle positions.

    Parameters
    ----------
    shape : int or tuple of 3 int
        Output shape (z, y, x) in voxels; an int gives a cube.
    radius : float
        Mean particle radius in voxels (the challenge's ``r``).
    volfrac : float
        Volume fraction of the packing, 0 < volfrac <= 0.58 (0.74 for ``layout="fcc"``).
    polydispersity : float
        Relative standard deviation of the radii (0.05 = 5%).
    particle_size : float
        Particle diameter in micrometres; with ``radius`` it sets the voxel size and hence how
        large the PSF is in voxels: small particles are blurred most.
    brightness : float
        Mean particle intensity ``f_mean`` (8-bit grey levels).
    snr : float
        Signal-to-noise ratio, ``f_mean / f_sigma``.
    cnr : float
        Contrast-to-noise ratio, ``|f_mean - b_mean| / sqrt((f_sigma**2 + b_sigma**2) / 2)``.
        With shot noise (variance proportional to intensity) these two fix the background
        level; ``cnr <= sqrt(2) * snr`` is required for bright particles. See
        :func:`voxpick.simulate.noise.noise_levels`.
    brightness_spread : float
        Relative standard deviation of per-particle brightness.
    psf_fwhm_xy_um : float
        Lateral FWHM of the confocal PSF, micrometres.
    psf_aspect : float
        Axial over lateral PSF size (z elongation), typically 2-3.
    blur_sigma : float
        Extra isotropic Gaussian blur in voxels (optics, drift), added to the PSF.
    gradient : float
        Fractional illumination drop from the first to the last z slice (0 = none).
    invert : bool
        Dark particles on a bright background.
    layout : {"fluid", "gel", "fcc"}
        Equilibrated hard-sphere fluid, clusters/strands, or a face-centred cubic crystal.
    oversample : int
        Render on a grid this many times finer, then average down (anti-aliasing, "zoom").
    sweeps : int
        Hard-sphere Monte Carlo sweeps after packing.
    rng : int, numpy.random.Generator or None
        Randomness. The seed actually used is stored in ``metadata["seed"]`` and reproduces
        the volume exactly when passed back as ``rng``.

    Returns
    -------
    SimulatedVolume
        ``volume`` (uint8), ``truth`` (positions inside the volume), ``metadata``.

    Examples
    --------
    >>> from voxpick.simulate import simulate_volume
    >>> sim = simulate_volume(32, radius=4, volfrac=0.3, snr=8, cnr=4, rng=0)
    >>> sim.volume.shape, sim.volume.dtype.name
    ((32, 32, 32), 'uint8')
    """
    shape3 = _check_shape(shape)
    _check_finite_range("radius", radius, 0.5, 1e4, "The radius is in voxels.")
    if 2 * radius > min(shape3):
        raise ValueError(
            f"shape={shape3} is smaller than the particle diameter 2*radius={2 * radius}: "
            "use a larger volume or a smaller radius."
        )
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is unknown: expected one of {LAYOUTS}.")
    _check_finite_range("particle_size", particle_size, 1e-3, 1e3, "It is in micrometres.")
    _check_finite_range("brightness", brightness, 1.0, 255.0, "It is an 8-bit grey level.")
    _check_finite_range("snr", snr, 1e-3, 1e4)
    _check_finite_range("cnr", cnr, 0.0, 1e4)
    _check_finite_range("brightness_spread", brightness_spread, 0.0, 1.0)
    _check_finite_range("psf_fwhm_xy_um", psf_fwhm_xy_um, 0.0, 100.0)
    _check_finite_range("psf_aspect", psf_aspect, 0.1, 20.0)
    _check_finite_range("blur_sigma", blur_sigma, 0.0, 100.0)
    _check_finite_range("gradient", gradient, 0.0, 0.99)
    if not (isinstance(oversample, int | np.integer) and 1 <= oversample <= 8):
        raise ValueError(f"oversample={oversample!r} must be an int from 1 to 8.")
    b_mean, f_sigma, b_sigma = noise_levels(brightness, snr=snr, cnr=cnr, invert=invert)
    seed = int(make_rng(rng).integers(0, 2**31 - 1)) if not isinstance(rng, int) else int(rng)
    gen = np.random.default_rng(seed)

    psf = psf_sigma_px(
        radius=radius, particle_size=particle_size, psf_fwhm_xy_um=psf_fwhm_xy_um,
        psf_aspect=psf_aspect,
    )  # fmt: skip
    sigma = tuple(math.sqrt(s * s + blur_sigma * blur_sigma) for s in psf)
    margin = np.array([min(32, math.ceil(2.0 * s)) for s in sigma], dtype=int)
    r_max = radius * (1.0 + 3.0 * polydispersity)
    pad = margin + math.ceil(r_max) + 1
    box = (
        float(shape3[0] + 2 * pad[0]),
        float(shape3[1] + 2 * pad[1]),
        float(shape3[2] + 2 * pad[2]),
    )
    packing = pack_spheres(
        box, radius=radius, volfrac=volfrac, polydispersity=polydispersity, layout=layout,
        sweeps=sweeps, rng=gen,
    )  # fmt: skip
    centres = packing.positions - pad  # canvas coordinates
    radii = packing.radii
    f_levels = brightness * (1.0 + brightness_spread * gen.standard_normal(len(radii)))
    f_levels = np.clip(f_levels, 0.05 * brightness, None)

    render_shape = tuple(int(s + 2 * m) for s, m in zip(shape3, margin, strict=True))
    lo = -margin - r_max - 1
    hi = np.asarray(shape3) + margin + r_max + 1
    visible = np.all((centres > lo) & (centres < hi), axis=1)
    contrast = np.clip((b_mean - f_levels) if invert else (f_levels - b_mean), 0.0, None)
    occupancy = render_occupancy(
        render_shape,  # type: ignore[arg-type]
        centres[visible] + margin,
        radii[visible],
        contrast[visible],
        oversample=int(oversample),
    )
    image = (b_mean - occupancy) if invert else (b_mean + occupancy)
    if gradient > 0:
        z = (np.arange(render_shape[0]) - margin[0]) / max(1, shape3[0] - 1)
        image *= (1.0 - gradient * np.clip(z, 0.0, 1.0))[:, None, None].astype(np.float32)
    image = blur(image, sigma)  # type: ignore[arg-type]
    crop = tuple(slice(m, m + s) for m, s in zip(margin, shape3, strict=True))
    image = image[crop]
    image = add_shot_noise(image, f_mean=brightness, f_sigma=f_sigma, rng=gen)
    volume = to_uint8(image)

    inside = np.all((centres >= -0.5) & (centres < np.asarray(shape3) - 0.5), axis=1)
    truth = pd.DataFrame(
        {
            "z": centres[inside, 0],
            "y": centres[inside, 1],
            "x": centres[inside, 2],
            "r": radii[inside],
            "brightness": f_levels[inside],
        }
    )
    metadata: dict[str, Any] = {
        "volfrac": float(volfrac),
        "r": float(radius),
        "particle_size": float(particle_size),
        "brightness": float(brightness),
        "SNR": float(snr),
        "CNR": float(cnr),
        "b_sigma": float(b_sigma),
        "f_sigma": float(f_sigma),
        "b_mean": float(b_mean),
        "n_particles": int(inside.sum()),
        "seed": seed,
        "polydispersity": float(polydispersity),
        "volfrac_packing": packing.volume_fraction,
        "psf_sigma_z": float(sigma[0]),
        "psf_sigma_y": float(sigma[1]),
        "psf_sigma_x": float(sigma[2]),
        "brightness_spread": float(brightness_spread),
        "gradient": float(gradient),
        "invert": bool(invert),
        "layout": layout,
        "oversample": int(oversample),
        "shape_z": shape3[0],
        "shape_y": shape3[1],
        "shape_x": shape3[2],
    }
    return SimulatedVolume(volume=volume, truth=truth, metadata=metadata)
