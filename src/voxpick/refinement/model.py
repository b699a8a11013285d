"""The image model refine fits: blurred anti-aliased particles on a smooth background.

``image(x) = background(x) + sum_i amp_i * (G * occupancy_i)(x) + noise``, where
``occupancy_i`` is particle ``i`` rendered by :mod:`voxpick.refinement.render`, ``G`` a Gaussian
PSF with one width per axis, ``background`` a plane in (z, y, x), and the noise variance a
straight line in the expected intensity (``noise[0] + noise[1] * image``: read-out plus photon
shot noise). :class:`ImageModel` holds the global parameters; :class:`Canvas` renders one box
of the volume (with a margin where particles outside the box blur into it) and gives the
residual, its weights and the gradient of the weighted squared residual.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import scipy.fft
from scipy import special

from voxpick.refinement.render import pull_back, render, render_tangent

#: Lowest noise variance the weights assume (grey levels squared): 8-bit rounding.
MIN_VARIANCE = 1.0 / 12.0


@dataclass(frozen=True)
class ImageModel:
    """Global parameters of the image model, measured once per volume.

    Attributes
    ----------
    semi_axes : tuple of 3 float
        Semi-axes (z, y, x) in voxels of a particle of size 1: half the diameter given.
    size : float
        Mean particle size, relative to ``semi_axes`` (1 when the diameter given is right).
    size_spread : float
        Relative standard deviation of the particle sizes (0: every particle the mean size).
    psf_sigma : tuple of 3 float
        Gaussian PSF width (z, y, x), voxels.
    background : tuple of 4 float
        Level at the volume's centre and its slopes along z, y, x (per voxel).
    brightness : float
        Median particle brightness above the background.
    noise : tuple of 2 float
        Noise variance ``noise[0] + noise[1] * expected intensity``.
    shape : tuple of 3 int
        Shape of the whole volume (the background's origin is its centre).
    oversample : int
        Sub-samples per voxel and axis of the renderer.
    """

    semi_axes: tuple[float, float, float]
    size: float
    size_spread: float
    psf_sigma: tuple[float, float, float]
    background: tuple[float, float, float, float]
    brightness: float
    noise: tuple[float, float]
    shape: tuple[int, int, int]
    oversample: int = 2

    def radius_px(self) -> tuple[float, float, float]:
        """Mean particle radius per axis, voxels."""
        return tuple(self.size * h for h in self.semi_axes)  # type: ignore[return-value]

    def as_dict(self) -> dict[str, Any]:
        """Plain values (for ``attrs``)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ImageModel:
        """Rebuild from :meth:`as_dict`."""
        fields: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in values.items()
        }
        return cls(**fields)

    def with_(self, **changes: Any) -> ImageModel:
        """Return a copy with some parameters changed."""
        return replace(self, **changes)

    def variance(self, expected: np.ndarray) -> np.ndarray:
        """Noise variance at the expected intensity ``expected``."""
        v = self.noise[0] + self.noise[1] * expected
        return np.maximum(v, MIN_VARIANCE).astype(np.float32)


def clipped_mean(
    mean: np.ndarray, sd: np.ndarray, lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of a Gaussian clipped to ``[lo, hi]`` (a saturating detector) and its slope.

    Parameters
    ----------
    mean, sd : numpy.ndarray
        Mean and standard deviation before clipping.
    lo, hi : float
        The range of the recorded values (e.g. 0 and 255 for 8-bit data).

    Returns
    -------
    expected : numpy.ndarray
        ``E[clip(X, lo, hi)]`` for ``X ~ N(mean, sd**2)``.
    slope : numpy.ndarray
        Its derivative by ``mean``: the probability that ``X`` is not clipped.
    """
    sd = np.maximum(sd, 1e-6)
    a = (lo - mean) / sd
    b = (hi - mean) / sd
    pa, pb = special.ndtr(a), special.ndtr(b)
    da = np.exp(-0.5 * a * a) * 0.3989423
    db = np.exp(-0.5 * b * b) * 0.3989423
    expected = lo * pa + hi * (1.0 - pb) + mean * (pb - pa) + sd * (da - db)
    return expected.astype(np.float32), (pb - pa).astype(np.float32)


def margin_for(model: ImageModel, *, size_max: float | None = None) -> tuple[int, int, int]:
    """Voxels beyond a box where particles can still add light to it, per axis."""
    s = model.size * (1.0 + 3.0 * model.size_spread) if size_max is None else size_max
    return tuple(  # type: ignore[return-value]
        math.ceil(s * h + 3.0 * sg) + 2
        for h, sg in zip(model.semi_axes, model.psf_sigma, strict=True)
    )


class Canvas:
    """One box of the volume with the margin the model needs around it.

    Parameters
    ----------
    data : numpy.ndarray
        The box's voxels (float; bright particles).
    origin : tuple of 3 int
        Where ``data[0, 0, 0]`` lies in the whole volume.
    model : ImageModel
    margin : tuple of 3 int, optional
        Canvas margin (default :func:`margin_for`).
    limits : tuple of 2 float, optional
        The range the data were recorded in (integer data saturate at its ends); the model's
        expected value is then the mean of the clipped noisy image (:func:`clipped_mean`).
    """

    def __init__(
        self,
        data: np.ndarray,
        origin: tuple[int, int, int],
        model: ImageModel,
        *,
        margin: tuple[int, int, int] | None = None,
        limits: tuple[float, float] | None = None,
    ) -> None:
        self.data = np.asarray(data, dtype=np.float32)
        self.limits = limits
        self.origin = np.asarray(origin, dtype=float)
        self.margin = np.asarray(margin or margin_for(model), dtype=int)
        need = [n + 2 * m for n, m in zip(self.data.shape, self.margin, strict=True)]
        self.shape: tuple[int, int, int] = tuple(
            scipy.fft.next_fast_len(int(n), real=True) for n in need
        )
        self.inner = tuple(
            slice(int(m), int(m) + n) for m, n in zip(self.margin, self.data.shape, strict=True)
        )
        self.set_model(model)

    def set_model(self, model: ImageModel) -> None:
        """Use other global parameters (PSF, background, noise)."""
        self.model = model
        self._transfer = self.transfer(model.psf_sigma)
        grids = np.meshgrid(
            *[
                np.arange(n, dtype=np.float32) + o - (s - 1) / 2.0
                for n, o, s in zip(self.data.shape, self.origin, model.shape, strict=True)
            ],
            indexing="ij",
            sparse=True,
        )
        c = model.background
        self.background = (c[0] + c[1] * grids[0] + c[2] * grids[1] + c[3] * grids[2]).astype(
            np.float32
        )
        self.background = np.broadcast_to(self.background, self.data.shape)
        self.basis = [np.ones(1, np.float32)[0], *grids]

    def transfer(self, sigma: tuple[float, float, float]) -> np.ndarray:
        """Fourier transfer function of a Gaussian of widths ``sigma`` on this canvas."""
        parts = []
        for axis, (n, s) in enumerate(zip(self.shape, sigma, strict=True)):
            f = scipy.fft.rfftfreq(n) if axis == 2 else scipy.fft.fftfreq(n)
            g = np.exp(-2.0 * (math.pi * s * f) ** 2).astype(np.float32)
            shape = [1, 1, 1]
            shape[axis] = len(f)
            parts.append(g.reshape(shape))
        return parts[0] * parts[1] * parts[2]

    def to_canvas(self, positions: np.ndarray) -> np.ndarray:
        """Whole-volume positions to canvas voxels."""
        return np.asarray(positions, dtype=float) - self.origin + self.margin

    def covers(self, positions: np.ndarray, size_max: float) -> np.ndarray:
        """Particles that can add light to this canvas's box."""
        c = self.to_canvas(positions)
        axes, sigma = self.model.semi_axes, self.model.psf_sigma
        reach = np.array([size_max * h + 3.0 * s for h, s in zip(axes, sigma, strict=True)])
        lo = self.margin - reach - 0.5
        hi = self.margin + np.asarray(self.data.shape) + reach - 0.5
        return np.all((c > lo) & (c < hi), axis=1)

    def spectrum(self, grid: np.ndarray) -> np.ndarray:
        """Real FFT of a canvas grid."""
        return scipy.fft.rfftn(grid, workers=-1)

    def blur(self, grid: np.ndarray, transfer: np.ndarray | None = None) -> np.ndarray:
        """Blur a canvas grid by the PSF (or by ``transfer``)."""
        spec = self.spectrum(grid)
        spec *= self._transfer if transfer is None else transfer
        return scipy.fft.irfftn(spec, s=self.shape, workers=-1).astype(np.float32, copy=False)

    def occupancy(self, positions: np.ndarray, amps: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """Render the particles (brightness times covered fraction) on the canvas."""
        return render(
            self.shape, self.to_canvas(positions), sizes, amps, self.model.semi_axes,
            oversample=self.model.oversample,
        )  # fmt: skip

    def expected(self, positions: np.ndarray, amps: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """Model image of the box (background plus blurred particles)."""
        blurred = self.blur(self.occupancy(positions, amps, sizes))
        return self.background + blurred[self.inner]

    def tangent(
        self, positions: np.ndarray, amps: np.ndarray, sizes: np.ndarray, steps: np.ndarray
    ) -> np.ndarray:
        """First-order change of the model image of the box along parameter ``steps``."""
        grid = render_tangent(
            self.shape, self.to_canvas(positions), sizes, amps, steps, self.model.semi_axes,
            oversample=self.model.oversample,
        )  # fmt: skip
        return self.blur(grid)[self.inner]

    def pull(
        self, weighted: np.ndarray, positions: np.ndarray, amps: np.ndarray, sizes: np.ndarray
    ) -> np.ndarray:
        """``J^T weighted``: gradient of ``sum(weighted * model)`` per particle parameter."""
        grid = np.zeros(self.shape, np.float32)
        grid[self.inner] = weighted
        q = self.blur(grid)
        return pull_back(
            q, self.to_canvas(positions), sizes, amps, self.model.semi_axes,
            oversample=self.model.oversample,
        )  # fmt: skip
