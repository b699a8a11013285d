"""Simulated time series of Brownian hard spheres with exact trajectories.

:func:`simulate_brownian` packs an equilibrated hard-sphere fluid (:func:`pack_spheres`), then
moves it from frame to frame by hard-sphere Monte Carlo with small displacement steps, which
is Brownian dynamics of hard spheres (no hydrodynamics) in the small-step limit: a step that
would make two spheres overlap is rejected. Each frame is imaged by the image model of
:func:`voxpick.simulate.simulate_volume` (:class:`ConfocalImaging`), so a frame looks exactly
like a simulated volume. See ``docs/tracking.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from voxpick.simulate.packing import OVERLAP_TOLERANCE, _mc_sweeps, pack_spheres
from voxpick.simulate.volume import confocal_imaging
from voxpick.validation import RngLike, check_number, make_rng

#: Largest Monte Carlo displacement per axis, as a fraction of the radius (small steps make
#: the Monte Carlo moves Brownian dynamics of hard spheres).
MAX_STEP_FRACTION = 0.1

#: Truth columns, in order.
TRUTH_COLUMNS = ("frame", "particle", "z", "y", "x", "r", "brightness")


@dataclass
class SimulatedSeries:
    """A simulated time series and its exact trajectories.

    Attributes
    ----------
    frames : numpy.ndarray
        uint8 images, axes (t, z, y, x).
    truth : pandas.DataFrame
        One row per particle and frame whose centre lies in the volume: ``frame``,
        ``particle`` (one id per trajectory), ``z, y, x`` (voxels), ``r`` (radius, voxels),
        ``brightness``.
    metadata : dict
        Every parameter used, ``seed``, ``substeps``, ``step`` and the Monte Carlo
        ``acceptance``.
    """

    frames: np.ndarray
    truth: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)


def simulate_brownian(
    shape: int | tuple[int, int, int] = 48,
    *,
    n_frames: int = 10,
    diffusion: float = 0.5,
    substeps: int | None = None,
    radius: float = 4.0,
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
    oversample: int = 2,
    sweeps: int = 30,
    rng: RngLike = None,
) -> SimulatedSeries:
    """Simulate a confocal time series of Brownian hard spheres with exact trajectories.

    Between two frames every particle makes ``substeps`` Monte Carlo moves, each a uniform
    displacement in a cube of half-edge ``step = sqrt(6 * diffusion / substeps)`` voxels,
    rejected when it would overlap another sphere. A particle that never collides therefore
    diffuses with ``diffusion``; in a crowded fluid collisions slow it down (at volume
    fraction 0.3 the mean squared displacement grows more slowly than ``6 * diffusion * t``):
    measure the diffusion of the truth itself (:func:`voxpick.analysis.diffusion_coefficient`)
    for the figure to compare with.

    Parameters
    ----------
    shape : int or tuple of 3 int
        Frame shape (z, y, x), voxels.
    n_frames : int
        Number of frames.
    diffusion : float
        Free diffusion coefficient, voxel²/frame (``<dx²> = 2 * diffusion`` per axis and frame
        without collisions). 0 gives a still series.
    substeps : int, optional
        Monte Carlo moves per particle between frames (default: enough for a step of at most
        0.1 radius).
    radius, volfrac, polydispersity, particle_size, brightness, snr, cnr, brightness_spread, \
psf_fwhm_xy_um, psf_aspect, blur_sigma, gradient, invert, oversample, sweeps
        As in :func:`voxpick.simulate.simulate_volume` (a hard-sphere fluid).
    rng : int, numpy.random.Generator or None
        Randomness; the seed used is ``metadata["seed"]``.

    Returns
    -------
    SimulatedSeries
        ``frames`` (uint8, t, z, y, x), ``truth``, ``metadata``.

    Examples
    --------
    >>> from voxpick.simulate import simulate_brownian
    >>> sim = simulate_brownian(32, n_frames=3, radius=4, volfrac=0.2, rng=0)
    >>> sim.frames.shape, list(sim.truth.columns[:5])
    ((3, 32, 32, 32), ['frame', 'particle', 'z', 'y', 'x'])
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, int | np.integer) or n_frames < 1:
        raise ValueError(f"n_frames={n_frames!r} must be a positive int (the number of frames).")
    d0 = check_number(
        diffusion, name="diffusion", lo=0.0, hi=1e4, hint="It is in voxel²/frame, e.g. 0.5."
    )
    imaging = confocal_imaging(
        shape, radius=radius, polydispersity=polydispersity, particle_size=particle_size,
        brightness=brightness, snr=snr, cnr=cnr, brightness_spread=brightness_spread,
        psf_fwhm_xy_um=psf_fwhm_xy_um, psf_aspect=psf_aspect, blur_sigma=blur_sigma,
        gradient=gradient, invert=invert, oversample=oversample,
    )  # fmt: skip
    if substeps is None:
        substeps = max(1, math.ceil(6.0 * d0 / (MAX_STEP_FRACTION * radius) ** 2))
    elif isinstance(substeps, bool) or not isinstance(substeps, int | np.integer) or substeps < 1:
        raise ValueError(f"substeps={substeps!r} must be a positive int, or None (automatic).")
    substeps = int(substeps)
    step = math.sqrt(6.0 * d0 / substeps)
    seed = int(make_rng(rng).integers(0, 2**31 - 1)) if not isinstance(rng, int) else int(rng)
    gen = np.random.default_rng(seed)
    packing = pack_spheres(
        imaging.packing_box, radius=radius, volfrac=volfrac, polydispersity=polydispersity,
        layout="fluid", sweeps=sweeps, rng=gen,
    )  # fmt: skip
    box = np.asarray(packing.box, dtype=np.float64)
    radii = packing.radii
    levels = imaging.draw_levels(len(radii), rng=gen)
    pos = packing.positions.copy()
    unwrapped = pos.copy()
    images, tables, acceptance = [], [], []
    for t in range(int(n_frames)):
        if t > 0 and step > 0:
            before = pos.copy()
            seed_t = int(gen.integers(0, 2**31 - 1))
            rate = _mc_sweeps(pos, radii, box, substeps, step, OVERLAP_TOLERANCE, 0.0, 0.0, seed_t)
            acceptance.append(rate)
            moved = pos - before
            unwrapped += moved - box * np.rint(moved / box)  # undo the periodic wrap
        centres = pos - imaging.pad
        images.append(imaging.image(centres, radii, levels, rng=gen))
        inside = imaging.inside(centres)
        wraps = np.floor(unwrapped[inside] / box).astype(np.int64)
        columns = {
            "frame": t, "index": np.flatnonzero(inside), "wz": wraps[:, 0], "wy": wraps[:, 1],
            "wx": wraps[:, 2], "z": centres[inside, 0], "y": centres[inside, 1],
            "x": centres[inside, 2], "r": radii[inside], "brightness": levels[inside],
        }  # fmt: skip
        tables.append(pd.DataFrame(columns))
    truth = pd.concat(tables, ignore_index=True)
    # a particle that crosses the periodic box (far outside the view) comes back as a new one
    ids = truth.groupby(["index", "wz", "wy", "wx"], sort=False).ngroup()
    truth["particle"] = ids.to_numpy(dtype=np.int64)
    truth = truth[list(TRUTH_COLUMNS)]
    metadata: dict[str, Any] = {
        "n_frames": int(n_frames), "diffusion": d0, "substeps": int(substeps), "step": step,
        "acceptance": float(np.mean(acceptance)) if acceptance else 1.0, "volfrac": float(volfrac),
        "r": float(radius), "polydispersity": float(polydispersity),
        "particle_size": float(particle_size), "brightness": float(brightness), "SNR": float(snr),
        "CNR": float(cnr), "b_mean": imaging.b_mean, "f_sigma": imaging.f_sigma,
        "b_sigma": imaging.b_sigma, "psf_sigma_z": imaging.sigma[0],
        "psf_sigma_y": imaging.sigma[1], "psf_sigma_x": imaging.sigma[2],
        "brightness_spread": float(brightness_spread), "gradient": float(gradient),
        "invert": bool(invert), "oversample": int(oversample), "shape": imaging.shape,
        "n_trajectories": int(truth["particle"].nunique()), "seed": seed,
    }  # fmt: skip
    return SimulatedSeries(frames=np.stack(images), truth=truth, metadata=metadata)
