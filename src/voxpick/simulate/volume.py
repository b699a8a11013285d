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


@dataclass(frozen=True)
class ConfocalImaging:
    """The image model of the colloid simulators, fixed for one set of parameters.

    Turns particle centres into a noisy uint8 confocal volume (:mod:`voxpick.simulate.render`,
    :mod:`voxpick.simulate.noise`). :func:`simulate_volume` images one packing with it, and
    :func:`voxpick.simulate.simulate_brownian` every frame of a time series, so both see the
    same optics and noise. Build it with :func:`confocal_imaging`, which checks the values.

    Attributes
    ----------
    shape : tuple of 3 int
        Output shape (z, y, x), voxels.
    radius, polydispersity : float
        Mean particle radius (voxels) and relative spread of the radii.
    brightness, brightness_spread : float
        Mean particle intensity ``f_mean`` and its relative spread between particles.
    b_mean, f_sigma, b_sigma : float
        Background level and the noise levels (:func:`voxpick.simulate.noise.noise_levels`).
    sigma : tuple of 3 float
        Total Gaussian blur (PSF and extra blur), voxels (z, y, x).
    gradient : float
        Fractional illumination drop from the first to the last z slice.
    invert : bool
        Dark particles on a bright background.
    oversample : int
        Fine-grid factor of the rendering.
    """

    shape: tuple[int, int, int]
    radius: float
    polydispersity: float
    brightness: float
    brightness_spread: float
    b_mean: float
    f_sigma: float
    b_sigma: float
    sigma: tuple[float, float, float]
    gradient: float
    invert: bool
    oversample: int

    @property
    def margin(self) -> np.ndarray:
        """Voxels rendered beyond each face so that the blur there sees outside particles."""
        return np.array([min(32, math.ceil(2.0 * s)) for s in self.sigma], dtype=int)

    @property
    def r_max(self) -> float:
        """Largest particle radius the radii can reach (3 standard deviations)."""
        return self.radius * (1.0 + 3.0 * self.polydispersity)

    @property
    def pad(self) -> np.ndarray:
        """Offset of the output volume inside the periodic packing box, voxels (z, y, x)."""
        return self.margin + math.ceil(self.r_max) + 1

    @property
    def packing_box(self) -> tuple[float, float, float]:
        """Periodic box to pack the particles in: the volume plus ``pad`` on every side."""
        box = np.asarray(self.shape) + 2 * self.pad
        return (float(box[0]), float(box[1]), float(box[2]))

    def draw_levels(self, n: int, *, rng: np.random.Generator) -> np.ndarray:
        """Draw the brightness of ``n`` particles."""
        levels = self.brightness * (1.0 + self.brightness_spread * rng.standard_normal(n))
        return np.clip(levels, 0.05 * self.brightness, None)

    def inside(self, centres: np.ndarray) -> np.ndarray:
        """Whether each centre (output voxels) lies in the volume (its nearest voxel does)."""
        return np.all((centres >= -0.5) & (centres < np.asarray(self.shape) - 0.5), axis=1)

    def image(
        self,
        centres: np.ndarray,
        radii: np.ndarray,
        levels: np.ndarray,
        *,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Image particles: render, blur, add noise, round to uint8.

        Parameters
        ----------
        centres : numpy.ndarray
            ``(N, 3)`` centres in output voxels (z, y, x); particles outside the volume are
            rendered when their blur reaches it.
        radii, levels : numpy.ndarray
            ``(N,)`` radii (voxels) and brightness of each particle.
        rng : numpy.random.Generator
            Randomness of the noise.

        Returns
        -------
        numpy.ndarray
            uint8 volume of ``shape``.
        """
        shape3, margin, r_max = self.shape, self.margin, self.r_max
        b_mean, invert = self.b_mean, self.invert
        render_shape = tuple(int(s + 2 * m) for s, m in zip(shape3, margin, strict=True))
        lo = -margin - r_max - 1
        hi = np.asarray(shape3) + margin + r_max + 1
        visible = np.all((centres > lo) & (centres < hi), axis=1)
        contrast = np.clip((b_mean - levels) if invert else (levels - b_mean), 0.0, None)
        occupancy = render_occupancy(
            render_shape,  # type: ignore[arg-type]
            centres[visible] + margin,
            radii[visible],
            contrast[visible],
            oversample=int(self.oversample),
        )
        image = (b_mean - occupancy) if invert else (b_mean + occupancy)
        if self.gradient > 0:
            z = (np.arange(render_shape[0]) - margin[0]) / max(1, shape3[0] - 1)
            image *= (1.0 - self.gradient * np.clip(z, 0.0, 1.0))[:, None, None].astype(np.float32)
        image = blur(image, self.sigma)
        crop = tuple(slice(m, m + s) for m, s in zip(margin, shape3, strict=True))
        image = add_shot_noise(image[crop], f_mean=self.brightness, f_sigma=self.f_sigma, rng=rng)
        return to_uint8(image)


def confocal_imaging(
    shape: int | tuple[int, int, int],
    *,
    radius: float,
    polydispersity: float,
    particle_size: float,
    brightness: float,
    snr: float,
    cnr: float,
    brightness_spread: float,
    psf_fwhm_xy_um: float,
    psf_aspect: float,
    blur_sigma: float,
    gradient: float,
    invert: bool,
    oversample: int,
) -> ConfocalImaging:
    """Check the imaging parameters of :func:`simulate_volume` and fix the image model.

    Parameters are those of :func:`simulate_volume` (same names, same meaning).

    Returns
    -------
    ConfocalImaging
    """
    shape3 = _check_shape(shape)
    _check_finite_range("radius", radius, 0.5, 1e4, "The radius is in voxels.")
    if 2 * radius > min(shape3):
        raise ValueError(
            f"shape={shape3} is smaller than the particle diameter 2*radius={2 * radius}: "
            "use a larger volume or a smaller radius."
        )
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
    psf = psf_sigma_px(
        radius=radius, particle_size=particle_size, psf_fwhm_xy_um=psf_fwhm_xy_um,
        psf_aspect=psf_aspect,
    )  # fmt: skip
    sigma = tuple(math.sqrt(s * s + blur_sigma * blur_sigma) for s in psf)
    return ConfocalImaging(
        shape=shape3, radius=float(radius), polydispersity=float(polydispersity),
        brightness=float(brightness), brightness_spread=float(brightness_spread),
        b_mean=float(b_mean), f_sigma=float(f_sigma), b_sigma=float(b_sigma),
        sigma=(sigma[0], sigma[1], sigma[2]), gradient=float(gradient), invert=bool(invert),
        oversample=int(oversample),
    )  # fmt: skip


def simulate_volume(
    shape: int | tuple[int, int, int] = 64,
    *,
    radius: float = 5.0,
    volfrac: float = 0.3,
    polydispersity: float = 0.0,
    particle_size: float = 0.5,
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
        Particle radius in micrometres, as in the colloid challenge's metadata and simulator
        (voxel size ``particle_size / radius`` um); with the PSF it sets how large the PSF is
        in voxels: small particles are blurred most. Earlier development versions read it as a
        diameter: pass half such a value to get the same volume.
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
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is unknown: expected one of {LAYOUTS}.")
    imaging = confocal_imaging(
        shape, radius=radius, polydispersity=polydispersity, particle_size=particle_size,
        brightness=brightness, snr=snr, cnr=cnr, brightness_spread=brightness_spread,
        psf_fwhm_xy_um=psf_fwhm_xy_um, psf_aspect=psf_aspect, blur_sigma=blur_sigma,
        gradient=gradient, invert=invert, oversample=oversample,
    )  # fmt: skip
    shape3, sigma = imaging.shape, imaging.sigma
    b_mean, f_sigma, b_sigma = imaging.b_mean, imaging.f_sigma, imaging.b_sigma
    seed = int(make_rng(rng).integers(0, 2**31 - 1)) if not isinstance(rng, int) else int(rng)
    gen = np.random.default_rng(seed)
    packing = pack_spheres(
        imaging.packing_box, radius=radius, volfrac=volfrac, polydispersity=polydispersity,
        layout=layout, sweeps=sweeps, rng=gen,
    )  # fmt: skip
    centres = packing.positions - imaging.pad  # canvas coordinates
    radii = packing.radii
    f_levels = imaging.draw_levels(len(radii), rng=gen)
    volume = imaging.image(centres, radii, f_levels, rng=gen)

    inside = imaging.inside(centres)
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
