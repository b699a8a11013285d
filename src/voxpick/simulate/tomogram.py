"""Synthetic cryo-ET tomograms with exact particle centres (numpy/scipy only, seconds each).

The image model, in order:

1. **Placement.** Particle counts per class (fixed, or Poisson from a number density), then
   random sequential addition, largest first: no two bounding spheres come closer than
   ``min_gap`` voxels (checked with :class:`scipy.spatial.cKDTree`); with ``clustering``, a
   fraction of them is then moved into contact with a particle of the same class
   (:func:`voxpick.simulate.clusters.cluster_particles`). Or an explicit layout.
2. **Density.** Each particle's shape (:mod:`voxpick.simulate.particles`), randomly oriented,
   anti-aliased, at its class density. Protein is denser than vitreous ice.
3. **Contrast transfer.** In Fourier space, the weak-phase CTF
   ``-(sqrt(1 - A^2) sin(chi) + A cos(chi))`` with
   ``chi(k) = pi lambda df k^2 - pi/2 Cs lambda^3 k^4`` (Cs 2.7 mm, relativistic wavelength),
   times a B-factor envelope ``exp(-B k^2 / 4)``; its sign makes particles dark on a lighter
   background, and its small value near ``k = 0`` makes it a band-pass. ``defocus_um=None``
   keeps only the (negated) envelope; ``phase_flip=True`` takes the CTF's absolute value.
4. **Missing wedge.** Tilt axis y, beam along z, tilts within ``+-max_tilt`` degrees: the
   reconstruction holds only the Fourier components with ``|k_z| <= tan(max_tilt) |k_x|``; all
   others (a wedge of half-angle ``90 - max_tilt`` about the k_z axis, containing the k_y axis)
   are zeroed. The mean (``k = 0``) is zeroed too.
5. **Noise.** White Gaussian noise passed through the same missing wedge (a reconstruction has
   no information there either), scaled so that the SNR below holds exactly.
6. **Normalisation** to zero mean and unit standard deviation (float32).

SNR is defined on the noise-free filtered signal ``s`` (step 4, zero mean over the volume) and
the filtered noise ``n``: ``snr = mean(s**2 over particle voxels) / var(n)``, where particle
voxels are those at least half covered by a particle (step 2). At the default, 0.5, particles
are faint in a single slice and clear after light smoothing.

Fourier filtering is periodic: what leaves one face (CTF fringes, wedge streaks) comes back at
the opposite one, as in any FFT-filtered tomogram.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.fft

from voxpick.simulate.clusters import cluster_particles
from voxpick.simulate.particles import (
    CZII_LIKE_CLASSES,
    ParticleClass,
    place_particles,
    random_rotations,
    render_particles,
)
from voxpick.simulate.volume import _check_finite_range, _check_shape
from voxpick.validation import RngLike, make_rng

#: Spherical aberration (Angstrom) of the CTF model (2.7 mm, a common objective lens).
SPHERICAL_ABERRATION_A = 2.7e7
#: Voxel spacing of the CZII challenge's tomograms, Angstrom.
CZII_VOXEL_SIZE = 10.012


def electron_wavelength_A(voltage_kv: float) -> float:
    """Relativistic electron wavelength in Angstrom at ``voltage_kv`` kilovolts (300: 0.0197)."""
    v = voltage_kv * 1e3
    return 12.2643 / math.sqrt(v + 0.97848e-6 * v * v)


def _fourier_grid(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequencies (cycles per voxel) of the ``rfftn`` grid, broadcastable, float32."""
    kz = scipy.fft.fftfreq(shape[0]).astype(np.float32)[:, None, None]
    ky = scipy.fft.fftfreq(shape[1]).astype(np.float32)[None, :, None]
    kx = scipy.fft.rfftfreq(shape[2]).astype(np.float32)[None, None, :]
    return kz, ky, kx


def wedge_mask(shape: tuple[int, int, int], *, max_tilt: float | None) -> np.ndarray:
    """Fourier-space mask of the measured region on the ``rfftn`` grid of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        Real-space shape (z, y, x).
    max_tilt : float or None
        Largest tilt angle, degrees, tilt axis y; ``None`` or 90 gives full sampling.

    Returns
    -------
    numpy.ndarray
        Boolean, shape ``(nz, 1, nx // 2 + 1)`` (constant along k_y): True where
        ``|k_z| <= tan(max_tilt) |k_x|``.
    """
    kz, _, kx = _fourier_grid(shape)
    if max_tilt is None or max_tilt >= 90.0:
        return np.ones((shape[0], 1, kx.shape[2]), dtype=bool)
    # compare angles, not tan(), so that k_x = 0 with k_z = 0 stays inside
    return np.abs(kz) <= np.tan(np.radians(max_tilt)) * np.abs(kx) + 1e-12


def ctf_filter(
    shape: tuple[int, int, int], *, voxel_size: float, defocus_um: float | None,
    amplitude_contrast: float, voltage_kv: float, bfactor: float, phase_flip: bool,
) -> np.ndarray:  # fmt: skip
    """Radially symmetric transfer function on the ``rfftn`` grid (float32, negative contrast).

    See the module docstring for the formula; all parameters are those of
    :func:`simulate_tomogram`.
    """
    kz, ky, kx = _fourier_grid(shape)
    k2 = (kz * kz + ky * ky + kx * kx) / np.float32(voxel_size**2)  # 1/Angstrom^2
    h = np.exp(np.float32(-bfactor / 4.0) * k2)
    if defocus_um is not None:
        lam = electron_wavelength_A(voltage_kv)
        chi = np.float32(math.pi * lam * defocus_um * 1e4) * k2 - np.float32(
            math.pi / 2.0 * SPHERICAL_ABERRATION_A * lam**3
        ) * (k2 * k2)
        a = amplitude_contrast
        ctf = np.float32(math.sqrt(1.0 - a * a)) * np.sin(chi) + np.float32(a) * np.cos(chi)
        h *= np.abs(ctf) if phase_flip else ctf
    return np.asarray(-h, dtype=np.float32)


def _resolve_counts(
    classes: Sequence[ParticleClass], counts: int | Mapping[str, int] | None,
    density_scale: float, volume_um3: float, gen: np.random.Generator,
) -> list[int]:  # fmt: skip
    names = [c.name for c in classes]
    if isinstance(counts, Mapping):
        unknown = sorted(set(counts) - set(names))
        if unknown:
            raise ValueError(
                f"counts names unknown classes {unknown}: expected names among {names}."
            )
    out = []
    for cls in classes:
        if isinstance(counts, Mapping) and cls.name in counts:
            k: Any = counts[cls.name]
        elif counts is not None and not isinstance(counts, Mapping):
            k = counts
        elif cls.count is not None:
            k = cls.count
        elif cls.number_density is not None:
            k = int(gen.poisson(cls.number_density * density_scale * volume_um3))
        else:
            k = 0
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
            raise ValueError(
                f"counts={counts!r} gives {k!r} particles of {cls.name!r}: expected an int >= 0 "
                "or a mapping from class name to int."
            )
        out.append(int(k))
    return out


def _layout_arrays(layout: Any, classes: Sequence[ParticleClass]) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(layout, pd.DataFrame):
        raise TypeError(
            f"layout is a {type(layout).__name__}: expected a pandas.DataFrame with columns "
            "particle_type, z, y, x (voxels), e.g. from czii_layout(), or None."
        )
    missing = [c for c in ("particle_type", "z", "y", "x") if c not in layout.columns]
    if missing:
        raise ValueError(
            f"layout is missing columns {missing}: expected particle_type, z, y, x (voxels; "
            f"found {list(layout.columns)})."
        )
    if "experiment" in layout.columns and layout["experiment"].nunique() > 1:
        raise ValueError(
            f"layout holds {layout['experiment'].nunique()} experiments: expected one. Select "
            "one, e.g. layout[layout.experiment == 'TS_5_4'] or czii_layout(path, experiment=...)."
        )
    index = {c.name: i for i, c in enumerate(classes)}
    unknown = sorted(set(layout["particle_type"].astype(str)) - set(index))
    if unknown:
        raise ValueError(
            f"layout has particle_type values {unknown} with no class: expected names among "
            f"{list(index)}. Pass classes= with those names, or drop the rows."
        )
    centres = layout[["z", "y", "x"]].to_numpy(dtype=float)
    if not np.isfinite(centres).all():
        raise ValueError("layout has NaN or infinite z, y or x values: drop those rows first.")
    labels = np.array([index[t] for t in layout["particle_type"].astype(str)], dtype=int)
    return centres, labels


def simulate_tomogram(
    shape: int | tuple[int, int, int] = (128, 128, 128),
    *,
    classes: Sequence[ParticleClass] = CZII_LIKE_CLASSES,
    voxel_size: float = 10.0,
    counts: int | Mapping[str, int] | None = None,
    density_scale: float = 1.0,
    layout: pd.DataFrame | None = None,
    min_gap: float = 0.0,
    clustering: float = 0.0,
    max_tilt: float | None = 60.0,
    defocus_um: float | None = 3.0,
    amplitude_contrast: float = 0.07,
    voltage_kv: float = 300.0,
    bfactor: float = 1500.0,
    phase_flip: bool = False,
    snr: float | None = 0.5,
    rng: RngLike = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Simulate a cryo-ET tomogram of dark particles with exact centres.

    Parameters
    ----------
    shape : int or tuple of 3 int
        Output shape (z, y, x), voxels; an int gives a cube. z is the beam direction.
    classes : sequence of ParticleClass
        Particle kinds (default :data:`CZII_LIKE_CLASSES`, the CZII six).
    voxel_size : float
        Angstrom per voxel; converts ``radius_A`` to voxels and sets the CTF's frequency scale.
    counts : int, mapping or None
        Particles per class: an int for every class, or ``{name: count}`` overriding the listed
        classes (the others keep their ``count`` / ``number_density``). ``None``: the classes'
        own settings.
    density_scale : float
        Multiplies every class ``number_density`` (crowding knob).
    layout : pandas.DataFrame or None
        Explicit centres instead of random placement: columns ``particle_type``, ``z``, ``y``,
        ``x`` in voxels (e.g. :func:`czii_layout`); used as given, without an overlap check.
        Not combinable with ``counts``.
    min_gap : float
        Random placement: smallest distance between bounding-sphere surfaces, voxels.
    clustering : float
        Random placement: fraction of the particles then moved into contact with another
        particle of their class (centres 0.7 to 1 times the sum of the radii apart, as the
        closest same-class neighbours of the CZII expert picks): chains and clusters, such as
        packed apo-ferritin or polysomes. 0 (the default) keeps every bounding sphere apart.
    max_tilt : float or None
        Largest tilt angle, degrees (tilt axis y); the missing wedge has half-angle
        ``90 - max_tilt`` about k_z. ``None`` or 90 disables it.
    defocus_um : float or None
        Underfocus, micrometres; ``None`` disables the CTF oscillation (envelope only).
    amplitude_contrast : float
        Fraction of amplitude contrast, 0 to 0.5.
    voltage_kv : float
        Acceleration voltage, kV.
    bfactor : float
        Envelope B-factor, Angstrom^2 (``exp(-B k^2 / 4)``); 0 disables it.
    phase_flip : bool
        Use ``|CTF|`` (phase-flipped data): no contrast reversal beyond the first zero.
    snr : float or None
        Mean squared filtered signal over particle voxels divided by the noise variance (see the
        module docstring); ``None`` gives a noise-free tomogram.
    rng : int, numpy.random.Generator or None
        Randomness; the seed used is stored in ``truth.attrs["seed"]``.

    Returns
    -------
    volume : numpy.ndarray
        float32 (z, y, x), zero mean, unit standard deviation; particles dark.
    truth : pandas.DataFrame
        One row per particle whose centre lies inside the volume (``-0.5 <= c < n - 0.5``):
        ``particle_type``, exact centres ``z, y, x`` (voxels, voxel centres at integers),
        ``z_A, y_A, x_A`` (``= voxels * voxel_size``, as in CZII files), ``radius_A``.
        ``truth.attrs`` holds the parameters, the seed and ``noise_std`` (in output units).

    Examples
    --------
    >>> from voxpick.simulate import simulate_tomogram
    >>> vol, truth = simulate_tomogram((64, 96, 96), counts=2, rng=0)
    >>> vol.shape, vol.dtype.name, len(truth)
    ((64, 96, 96), 'float32', 12)
    """
    shape3 = _check_shape(shape)
    classes = list(classes)
    if not classes or not all(isinstance(c, ParticleClass) for c in classes):
        raise TypeError(f"classes={classes!r} is invalid: expected a non-empty ParticleClass list.")
    if len({c.name for c in classes}) != len(classes):
        raise ValueError(f"classes have duplicate names {[c.name for c in classes]}: expected "
                         "unique names.")  # fmt: skip
    _check_finite_range("voxel_size", voxel_size, 1e-3, 1e4, "It is in Angstrom per voxel.")
    _check_finite_range("density_scale", density_scale, 0.0, 1e3)
    _check_finite_range("min_gap", min_gap, 0.0, 1e3, "It is in voxels.")
    _check_finite_range("clustering", clustering, 0.0, 1.0, "It is a fraction of the particles.")
    if max_tilt is not None:
        _check_finite_range("max_tilt", max_tilt, 1.0, 90.0, "Use None for no missing wedge.")
    if defocus_um is not None:
        _check_finite_range("defocus_um", defocus_um, 0.0, 50.0, "Underfocus is positive.")
    _check_finite_range("amplitude_contrast", amplitude_contrast, 0.0, 0.5)
    _check_finite_range("voltage_kv", voltage_kv, 10.0, 3000.0)
    _check_finite_range("bfactor", bfactor, 0.0, 1e5, "It is in Angstrom^2.")
    if snr is not None:
        _check_finite_range("snr", snr, 1e-6, 1e6, "Use None for a noise-free tomogram.")
    radii_cls = np.array([c.radius_A / voxel_size for c in classes])
    small = [c.name for c, r in zip(classes, radii_cls, strict=True) if r < 1.0]
    if small:
        raise ValueError(
            f"classes {small} are under 1 voxel in radius at voxel_size={voxel_size}: expected "
            "radius_A >= voxel_size. Use a smaller voxel_size or larger particles."
        )
    seed = int(rng) if isinstance(rng, int) else int(make_rng(rng).integers(0, 2**31 - 1))
    gen = np.random.default_rng(seed)

    if layout is not None:
        if counts is not None:
            raise ValueError("counts and layout were both given: expected one of them.")
        if clustering:
            raise ValueError(
                f"clustering={clustering!r} was given with a layout: a layout is used as given. "
                "Pass clustering=0 with a layout, or drop the layout for random placement."
            )
        centres, labels = _layout_arrays(layout, classes)
    else:
        volume_um3 = float(np.prod(shape3)) * (voxel_size * 1e-4) ** 3
        n_per = _resolve_counts(classes, counts, density_scale, volume_um3, gen)
        labels = np.repeat(np.arange(len(classes)), n_per)
        centres = place_particles(shape3, radii_cls[labels], min_gap=min_gap, rng=gen)
        if clustering:  # only then: the default draws the same tomograms as before
            centres = cluster_particles(
                centres, radii_cls[labels], labels, shape=shape3, fraction=clustering, rng=gen
            )
    radii = radii_cls[labels]
    rotations = random_rotations(len(labels), gen)
    density = render_particles(shape3, centres, radii, [classes[i] for i in labels], rotations)
    inside_particles = density >= 0.5 * min(c.density for c in classes)

    spectrum = scipy.fft.rfftn(density)
    del density
    wedge = wedge_mask(shape3, max_tilt=max_tilt)
    spectrum *= ctf_filter(
        shape3, voxel_size=voxel_size, defocus_um=defocus_um,
        amplitude_contrast=amplitude_contrast, voltage_kv=voltage_kv, bfactor=bfactor,
        phase_flip=phase_flip,
    )  # fmt: skip
    spectrum *= wedge
    spectrum[0, 0, 0] = 0.0
    image = scipy.fft.irfftn(spectrum, s=shape3).astype(np.float32, copy=False)
    del spectrum
    signal_power = (
        float(np.mean(np.square(image[inside_particles], dtype=np.float64)))
        if inside_particles.any()
        else 0.0
    )
    noise_std = 0.0
    if snr is not None:
        noise_spec = scipy.fft.rfftn(gen.standard_normal(shape3, dtype=np.float32))
        noise_spec *= wedge
        noise_spec[0, 0, 0] = 0.0
        noise = scipy.fft.irfftn(noise_spec, s=shape3).astype(np.float32, copy=False)
        del noise_spec
        noise_std = math.sqrt(signal_power / snr) if signal_power > 0 else 1.0
        noise *= np.float32(noise_std / max(float(noise.std(dtype=np.float64)), 1e-30))
        image += noise
        del noise
    image -= np.float32(image.mean(dtype=np.float64))
    scale = float(image.std(dtype=np.float64))
    if scale > 0:
        image /= np.float32(scale)

    inside = np.all((centres >= -0.5) & (centres < np.asarray(shape3) - 0.5), axis=1)
    truth = pd.DataFrame(
        {
            "particle_type": [classes[i].name for i in labels[inside]],
            "z": centres[inside, 0],
            "y": centres[inside, 1],
            "x": centres[inside, 2],
        }
    )
    for axis in ("z", "y", "x"):
        truth[f"{axis}_A"] = truth[axis] * voxel_size
    truth["radius_A"] = radii[inside] * voxel_size
    truth.attrs.update(
        seed=seed, voxel_size=float(voxel_size), shape=shape3, max_tilt=max_tilt,
        defocus_um=defocus_um, amplitude_contrast=float(amplitude_contrast),
        voltage_kv=float(voltage_kv), bfactor=float(bfactor), phase_flip=bool(phase_flip),
        snr=snr, noise_std=noise_std / scale if scale > 0 else 0.0, clustering=float(clustering),
        n_rendered=len(labels),
    )  # fmt: skip
    return image, truth


def czii_layout(
    path: str | Path, *, experiment: str | None = None, voxel_size: float = CZII_VOXEL_SIZE
) -> pd.DataFrame:
    """Read CZII expert picks as a layout for :func:`simulate_tomogram`.

    Parameters
    ----------
    path : str or pathlib.Path
        A CZII picks CSV with columns ``x, y, z`` (Angstrom), ``particle_type`` and
        ``experiment``, e.g. ``../shared/data/cryoet-czii-picks/czii_train_picks.csv``. Nothing
        is read until called, and nothing is copied.
    experiment : str or None
        Keep one experiment (e.g. ``"TS_5_4"``); ``None`` keeps all (select one before
        simulating).
    voxel_size : float
        Angstrom per voxel of the tomogram to simulate (CZII: 10.012, shape (184, 630, 630)).

    Returns
    -------
    pandas.DataFrame
        ``experiment, particle_type, z, y, x`` (voxels, ``= Angstrom / voxel_size``),
        ``z_A, y_A, x_A``.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(
            f"path={str(path)!r} is not a file: expected a CZII picks CSV such as "
            "../shared/data/cryoet-czii-picks/czii_train_picks.csv."
        )
    _check_finite_range("voxel_size", voxel_size, 1e-3, 1e4, "It is in Angstrom per voxel.")
    raw = pd.read_csv(file)
    missing = [c for c in ("x", "y", "z", "particle_type", "experiment") if c not in raw.columns]
    if missing:
        raise ValueError(f"{file} is missing columns {missing}: expected x, y, z (Angstrom), "
                         f"particle_type, experiment (found {list(raw.columns)}).")  # fmt: skip
    if experiment is not None:
        known = sorted(raw["experiment"].astype(str).unique())
        if experiment not in known:
            raise ValueError(f"experiment={experiment!r} is not in {file}: expected one of "
                             f"{known}.")  # fmt: skip
        raw = raw[raw["experiment"].astype(str) == experiment]
    out = pd.DataFrame(
        {
            "experiment": raw["experiment"].astype(str).to_numpy(),
            "particle_type": raw["particle_type"].astype(str).to_numpy(),
        }
    )
    for axis in ("z", "y", "x"):
        a = raw[axis].to_numpy(dtype=float)
        out[axis] = a / voxel_size
        out[f"{axis}_A"] = a
    return out
