"""Training samples: simulated volumes at model scale with their target heatmaps.

One *sample* is a simulated confocal volume (:func:`voxpick.simulate.simulate_volume`) with
parameters drawn from :class:`SampleRanges`, resampled to model scale exactly as inference does
(:mod:`voxpick.ml.scale`), intensity-normalised, plus a target heatmap with a Gaussian blob of
``sigma`` voxels (model scale) at every true centre (sub-voxel, combined by maximum).

Dark particles are simulated too and are presented to the network negated, which is what
``invert=True`` does at inference: the network always sees bright particles, but has learnt the
noise structure of both kinds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxpick.ml.scale import MODEL_DIAMETER, normalize_intensity, to_model_coords, to_model_scale
from voxpick.nn.config import config_from_dict, config_to_dict
from voxpick.simulate import simulate_volume

Range = tuple[float, float]

#: Largest simulated volume (voxels before resampling), to bound the cost of one sample.
MAX_NATIVE_VOXELS = 3_400_000


def _mixed(gen: np.random.Generator, lo: float, hi: float, p_log: float = 0.5) -> float:
    """Uniform on ``[lo, hi]``, or log-uniform with probability ``p_log`` (more small values)."""
    if hi <= lo:
        return float(lo)
    if lo > 0 and gen.random() < p_log:
        return float(math.exp(gen.uniform(math.log(lo), math.log(hi))))
    return float(gen.uniform(lo, hi))


@dataclass(frozen=True)
class SampleRanges:
    """The distribution of simulated training volumes.

    Numeric ranges are drawn uniformly, except ``snr``, ``cnr`` and ``particle_size`` which mix
    uniform and log-uniform draws (half each) to see enough hard, small-particle, noisy cases,
    and ``volfrac`` which is drawn from ``dense_volfrac`` with probability ``p_dense``.
    """

    volfrac: Range = (0.05, 0.58)
    dense_volfrac: Range = (0.45, 0.58)
    p_dense: float = 0.35
    polydispersity: Range = (0.0, 0.10)
    radius: Range = (3.0, 12.0)
    # radius in um (challenge convention); the shipped model's 0.1-1 um was a diameter
    particle_size: Range = (0.05, 0.5)
    snr: Range = (0.5, 10.0)
    cnr: Range = (0.2, 10.0)
    brightness: Range = (80.0, 255.0)
    brightness_spread: Range = (0.0, 0.2)
    psf_aspect: Range = (1.8, 3.5)
    blur_sigma: Range = (0.3, 1.0)
    gradient: Range = (0.0, 0.6)
    p_gradient: float = 0.35
    p_invert: float = 0.2
    p_gel: float = 0.2
    p_fcc: float = 0.05
    #: Probability of sampling z coarser than xy by an integer step (2 or 3) after simulating.
    p_zstep: float = 0.25
    #: Relative error of the diameter given to the model (same on all axes), uniform +-.
    diameter_jitter: float = 0.12
    #: Extra per-axis relative diameter error, uniform +-.
    axis_jitter: float = 0.04

    def draw(self, gen: np.random.Generator) -> dict[str, Any]:
        """Draw the parameters of one training volume.

        Parameters
        ----------
        gen : numpy.random.Generator
            Randomness.

        Returns
        -------
        dict
            ``sim`` (keyword arguments of :func:`~voxpick.simulate.simulate_volume` except the
            shape), ``zstep`` (int) and ``diameter_error`` (3 relative factors, z, y, x).
        """
        dense = gen.random() < self.p_dense
        volfrac = gen.uniform(*(self.dense_volfrac if dense else self.volfrac))
        invert = bool(gen.random() < self.p_invert)
        snr = _mixed(gen, *self.snr)
        cnr = _mixed(gen, *self.cnr)
        # bright particles need cnr <= sqrt(2) snr; dark ones a background <= ~4x the particles
        cnr = min(cnr, (1.9 if invert else 1.38) * snr)
        brightness = gen.uniform(*self.brightness)
        if invert:  # keep the bright background inside 8 bits
            q = (cnr / snr) ** 2
            u = (2.0 + q / 2.0 + math.sqrt(4.0 * q + q * q / 4.0)) / 2.0
            brightness = gen.uniform(30.0, max(31.0, 235.0 / u))
        u_layout = gen.random()
        layout = (
            "gel"
            if u_layout < self.p_gel
            else "fcc"
            if u_layout < self.p_gel + self.p_fcc
            else "fluid"
        )
        radius = gen.uniform(*self.radius)
        poly = float(gen.uniform(*self.polydispersity))
        if layout == "fcc":  # a crystal needs nearly equal spheres
            poly = min(poly, 0.02)
        sim = {
            "radius": float(radius),
            "volfrac": float(volfrac),
            "polydispersity": poly,
            "particle_size": _mixed(gen, *self.particle_size),
            "brightness": float(brightness),
            "snr": float(snr),
            "cnr": float(cnr),
            "brightness_spread": float(gen.uniform(*self.brightness_spread)),
            "psf_aspect": float(gen.uniform(*self.psf_aspect)),
            "blur_sigma": float(gen.uniform(*self.blur_sigma)),
            "gradient": float(gen.uniform(*self.gradient))
            if gen.random() < self.p_gradient
            else 0.0,
            "invert": invert,
            "layout": layout,
            "oversample": 2 if radius < 8 else 1,
        }
        zstep = int(gen.choice([2, 3])) if gen.random() < self.p_zstep else 1
        if 2 * radius / zstep < 2.0:
            zstep = 1
        common = 1.0 + gen.uniform(-self.diameter_jitter, self.diameter_jitter)
        axis = 1.0 + gen.uniform(-self.axis_jitter, self.axis_jitter, size=3)
        return {
            "sim": sim,
            "zstep": zstep,
            "diameter_error": tuple(float(common * a) for a in axis),
        }

    def as_dict(self) -> dict[str, Any]:
        """Return the ranges as a JSON-serialisable dictionary."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SampleRanges:
        """Build ranges from :meth:`as_dict` output (unknown keys are an error)."""
        return config_from_dict(cls, data)


@dataclass
class Sample:
    """One training volume at model scale.

    Attributes
    ----------
    image : numpy.ndarray
        Normalised float32 volume (particles bright).
    target : numpy.ndarray
        float32 heatmap in 0..1, same shape.
    points : numpy.ndarray
        ``(N, 3)`` true centres at model scale.
    params : dict
        How it was made (simulation parameters, seed, zstep, diameter error).
    """

    image: np.ndarray
    target: np.ndarray
    points: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)


def gaussian_heatmap(
    shape: tuple[int, int, int], points: np.ndarray, sigma: float, truncate: float = 3.0
) -> np.ndarray:
    """Heatmap with a unit-height Gaussian at every point, overlaps combined by maximum.

    Parameters
    ----------
    shape : tuple of 3 int
        Output shape (z, y, x).
    points : numpy.ndarray
        ``(N, 3)`` sub-voxel centres (voxel centres at integer coordinates); points outside
        the volume still contribute their tails.
    sigma : float
        Standard deviation in voxels (all axes).
    truncate : float
        Each blob is computed within ``truncate * sigma`` of its centre.

    Returns
    -------
    numpy.ndarray
        float32 array of ``shape``.
    """
    out = np.zeros(shape, dtype=np.float32)
    half = math.ceil(truncate * sigma)
    inv = -0.5 / (sigma * sigma)
    for p in np.asarray(points, dtype=float).reshape(-1, 3):
        c = np.rint(p).astype(int)
        lo = np.maximum(c - half, 0)
        hi = np.minimum(c + half + 1, shape)
        if np.any(hi <= lo):
            continue
        g = [
            np.exp(inv * (np.arange(lo[a], hi[a]) - p[a]) ** 2).astype(np.float32) for a in range(3)
        ]
        blob = g[0][:, None, None] * g[1][None, :, None] * g[2][None, None, :]
        view = out[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        np.maximum(view, blob, out=view)
    return out


def make_sample(
    gen: np.random.Generator,
    *,
    size: int,
    sigma: float,
    ranges: SampleRanges | None = None,
    model_diameter: float = MODEL_DIAMETER,
) -> Sample:
    """Simulate one training volume and bring it to model scale.

    Parameters
    ----------
    gen : numpy.random.Generator
        Randomness (parameters and the simulation seed).
    size : int
        Wanted edge of the volume at model scale; reduced only
        when the simulation would exceed :data:`MAX_NATIVE_VOXELS`.
    sigma : float
        Target blob width at model scale, voxels.
    ranges : SampleRanges, optional
        Parameter distribution.
    model_diameter : float
        Particle diameter at model scale.

    Returns
    -------
    Sample
    """
    ranges = ranges or SampleRanges()
    draw = ranges.draw(gen)
    sim_kw, zstep, err = draw["sim"], draw["zstep"], np.asarray(draw["diameter_error"])
    d_true = 2.0 * sim_kw["radius"]
    d_px = np.array([d_true / zstep, d_true, d_true])  # after z sub-sampling
    zoom = model_diameter / (d_px * err)
    edge = float(size)
    native = np.ceil(edge / zoom).astype(int) * np.array([zstep, 1, 1])
    while np.prod(native) > MAX_NATIVE_VOXELS and edge > 16:
        edge *= 0.9
        native = np.ceil(edge / zoom).astype(int) * np.array([zstep, 1, 1])
    native = np.maximum(native, math.ceil(d_true) + 1)
    seed = int(gen.integers(0, 2**31 - 1))
    shape = (int(native[0]), int(native[1]), int(native[2]))
    try:
        sim = simulate_volume(shape, rng=seed, **sim_kw)
    except ValueError:  # e.g. a polydisperse crystal too dense to build: use a fluid
        sim_kw = {**sim_kw, "layout": "fluid"}
        sim = simulate_volume(shape, rng=seed, **sim_kw)
    volume, truth = sim.volume, sim.positions
    if zstep > 1:  # coarser z sampling: keep every zstep-th slice
        offset = int(gen.integers(0, zstep))
        volume = volume[offset::zstep]
        truth = truth.copy()
        truth[:, 0] = (truth[:, 0] - offset) / zstep
        keep = (truth[:, 0] >= -0.5) & (truth[:, 0] < volume.shape[0] - 0.5)
        truth = truth[keep]
    scaled, eff = to_model_scale(volume, zoom)
    image = normalize_intensity(scaled, invert=bool(sim_kw["invert"]))
    if image is None:  # pathological draw: featureless volume
        image = np.zeros(scaled.shape, dtype=np.float32)
    points = to_model_coords(truth, eff)
    target = gaussian_heatmap(image.shape, points, sigma)
    params = {**sim_kw, "seed": seed, "zstep": zstep, "diameter_error": err.tolist(),
              "native_shape": [int(n) for n in native]}  # fmt: skip
    return Sample(image=image, target=target, points=points, params=params)
