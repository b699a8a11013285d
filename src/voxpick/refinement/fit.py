"""Least-squares fit of the particles' positions, brightness and size in one box.

Gauss-Newton with one block per particle: every iteration renders the model, pulls the
weighted residual back to each particle's five parameters (the exact gradient of the rendered
model, :mod:`voxpick.refinement.render`) and takes the step that the particle's own curvature
(the template's Fisher information at its brightness and local noise weight) gives, damped
when the objective does not drop. The objective is the weighted squared residual, plus a soft
hard-sphere penalty on overlapping pairs and, when sizes are fitted, a Gaussian prior of the
measured size spread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from voxpick.refinement.model import Canvas, clipped_mean

#: Overlap allowed before the hard-sphere penalty starts, fraction of the contact distance.
#: Touching particles sit at contact; a penalty that starts at contact jams a dense packing
#: whose starting positions are noisy (particles lock each other half a voxel off), so it
#: starts at 0.9 contact: it keeps two fits off one particle without moving true neighbours.
OVERLAP_SLACK = 0.1

#: Largest position step of one iteration, fraction of the particle radius.
MAX_STEP = 0.25

#: How far (per axis, fraction of the radius) a particle may move from where it started.
ANCHOR = 0.5

#: Brightest particle the fit allows, times the median brightness.
MAX_BRIGHTNESS = 4.0

#: Floor of the saturation slope in the curvature (see :meth:`Fitter.update_weights`).
MIN_SLOPE = 0.2

#: Conjugate-gradient iterations per Gauss-Newton step, and their relative tolerance.
CG_ITERATIONS = 0
CG_TOLERANCE = 0.05


@dataclass
class Particles:
    """Particles of a fit, whole-volume voxels.

    ``free`` marks the particles the fit moves; ``tag`` is carried along unchanged (the
    caller's identifier of each particle).
    """

    pos: np.ndarray
    amp: np.ndarray
    size: np.ndarray
    free: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    tag: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    anchor: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    def __post_init__(self) -> None:
        self.pos = np.asarray(self.pos, float).reshape(-1, 3).copy()
        self.amp = np.asarray(self.amp, float).ravel().copy()
        self.size = np.asarray(self.size, float).ravel().copy()
        if len(self.free) != len(self.pos):
            self.free = np.ones(len(self.pos), bool)
        if len(self.tag) != len(self.pos):
            self.tag = np.full(len(self.pos), -1, np.int64)
        if len(self.anchor) != len(self.pos):
            self.anchor = self.pos.copy()

    def __len__(self) -> int:
        return len(self.pos)

    def copy(self) -> Particles:
        """Return an independent copy."""
        return Particles(
            self.pos, self.amp, self.size, self.free.copy(), self.tag.copy(), self.anchor.copy()
        )

    def take(self, keep: np.ndarray) -> Particles:
        """Return the particles selected by a mask or index."""
        return Particles(
            self.pos[keep], self.amp[keep], self.size[keep], self.free[keep], self.tag[keep],
            self.anchor[keep],
        )  # fmt: skip

    def append(self, other: Particles) -> Particles:
        """Return these particles followed by ``other``."""
        return Particles(
            np.vstack([self.pos, other.pos]),
            np.concatenate([self.amp, other.amp]),
            np.concatenate([self.size, other.size]),
            np.concatenate([self.free, other.free]),
            np.concatenate([self.tag, other.tag]),
            np.vstack([self.anchor, other.anchor]),
        )


@dataclass
class State:
    """The model image of a set of particles and what the fit needs from it."""

    expected: np.ndarray
    residual: np.ndarray
    objective: float
    chi2: float
    #: the model image before saturation, and the slope of the saturation (None: none)
    raw: np.ndarray | None = None
    slope: np.ndarray | None = None


class Fitter:
    """Gauss-Newton fit of particles in one canvas.

    Parameters
    ----------
    canvas : Canvas
    gram : numpy.ndarray
        ``(5, 5)`` template Fisher information (unit weight, brightness 1,
        :func:`voxpick.refinement.fisher.template_gram`).
    fit_size : bool
        Fit each particle's size (with the model's size spread as a prior).
    """

    def __init__(self, canvas: Canvas, gram: np.ndarray, *, fit_size: bool) -> None:
        self.canvas = canvas
        self.model = canvas.model
        self.gram = gram
        self.fit_size = fit_size and self.model.size_spread > 0
        self.h = np.asarray(self.model.semi_axes, float)
        self.weights: np.ndarray = np.ones_like(canvas.data)
        self.info: np.ndarray = self.weights
        self.mask: np.ndarray | None = None
        self.brightness_only = False
        self.cg_iterations = CG_ITERATIONS
        self.local_weight = np.ones(0)
        pos_curv = float(np.mean(np.diag(gram)[:3])) * self.model.brightness**2
        # overlap stiffness: ten times the data's curvature per (normalised) unit
        self.stiffness = 10.0 * pos_curv * float(np.mean(self.h)) ** 2

    # --- objective --------------------------------------------------------------------------
    def _penalty(self, parts: Particles) -> tuple[float, np.ndarray, np.ndarray]:
        """Hard-sphere overlap and size prior: value, gradient (N, 5), curvature (N, 5)."""
        n = len(parts)
        grad = np.zeros((n, 5))
        curv = np.zeros((n, 5))
        value = 0.0
        if n > 1:
            u = parts.pos / self.h
            smax = float(parts.size.max())
            pairs = cKDTree(u).query_pairs(2.0 * smax, output_type="ndarray")
            if len(pairs):
                i, j = pairs[:, 0], pairs[:, 1]
                diff = u[i] - u[j]
                dist = np.sqrt((diff**2).sum(axis=1)) + 1e-12
                over = (parts.size[i] + parts.size[j]) * (1.0 - OVERLAP_SLACK) - dist
                hit = over > 0
                if hit.any():
                    i, j, diff, dist, over = i[hit], j[hit], diff[hit], dist[hit], over[hit]
                    value = float(self.stiffness * (over**2).sum())
                    # d over / d pos_i = -diff / (dist * h): the penalty pushes i from j
                    g = (2.0 * self.stiffness * over / dist)[:, None] * diff / self.h
                    np.add.at(grad[:, :3], i, -g)
                    np.add.at(grad[:, :3], j, g)
                    c = 2.0 * self.stiffness / self.h**2 * (diff / dist[:, None]) ** 2
                    np.add.at(curv[:, :3], i, c)
                    np.add.at(curv[:, :3], j, c)
        if self.fit_size:
            tau2 = (self.model.size_spread * self.model.size) ** 2
            dev = parts.size - self.model.size
            value += float((dev**2).sum() / tau2)
            grad[:, 4] = 2.0 * dev / tau2
            curv[:, 4] = 2.0 / tau2
        return value, grad, curv

    def evaluate(self, parts: Particles) -> State:
        """Model image, residual and objective of ``parts``."""
        raw = self.canvas.expected(parts.pos, parts.amp, parts.size)
        expected, slope = raw, None
        if self.canvas.limits is not None:
            sd = np.sqrt(self.model.variance(raw))
            expected, slope = clipped_mean(raw, sd, *self.canvas.limits)
        residual = self.canvas.data - expected
        chi2 = float((self.weights * residual * residual).sum(dtype=np.float64))
        penalty, _, _ = self._penalty(parts)
        return State(expected, residual, chi2 + penalty, chi2, raw, slope)

    def update_weights(self, state: State, mask: np.ndarray | None = None) -> None:
        """Noise weights from the current model image (times ``mask``, 0 where no data).

        ``info`` are the weights of the Fisher information: the noise weights times the
        squared slope of the saturation (a saturated voxel says nothing).
        """
        raw = state.expected if state.raw is None else state.raw
        weights = 1.0 / self.model.variance(raw)
        self.weights = weights if mask is None else (weights * mask).astype(np.float32)
        # (a floor on the slope: a fully saturated region must not leave a particle free to
        # take any brightness)
        slope = None if state.slope is None else np.maximum(state.slope, MIN_SLOPE)
        self.info = self.weights if slope is None else self.weights * slope**2
        self._smooth_weights: np.ndarray | None = None

    def weighted_residual(self, state: State) -> np.ndarray:
        """``W r`` carried back through the saturation: what the gradient pulls back."""
        wr = self.weights * state.residual
        return wr if state.slope is None else wr * state.slope

    def _local_weights(self, parts: Particles) -> np.ndarray:
        """Mean noise weight over each particle's blurred image."""
        smooth = getattr(self, "_smooth_weights", None)
        if smooth is None:
            grid = np.zeros(self.canvas.shape, np.float32)
            grid[self.canvas.inner] = self.info
            smooth = self._smooth_weights = self.canvas.blur(grid)
        idx = np.rint(self.canvas.to_canvas(parts.pos)).astype(int)
        idx = np.clip(idx, 0, np.asarray(self.canvas.shape) - 1)
        return np.maximum(smooth[idx[:, 0], idx[:, 1], idx[:, 2]], 0.0)

    # --- steps ------------------------------------------------------------------------------
    def step(self, parts: Particles, state: State, damping: float) -> Particles:
        """Take one damped Gauss-Newton step of every free particle.

        The normal equations of all particles together are solved by conjugate gradients
        (matrix-free: a product with the Gauss-Newton matrix is one tangent rendering and
        one pull-back), preconditioned by each particle's own 5x5 block; neighbours whose
        blurred images overlap then move together instead of pushing each other back and
        forth.
        """
        g = self.canvas.pull(self.weighted_residual(state), parts.pos, parts.amp, parts.size)
        _, pg, pc = self._penalty(parts)
        g = g - 0.5 * pg  # both in units of half the objective's gradient
        w = self._local_weights(parts)
        scale = np.ones((len(parts), 5))
        scale[:, :3] = parts.amp[:, None]
        scale[:, 4] = parts.amp
        block = w[:, None, None] * self.gram[None] * scale[:, :, None] * scale[:, None, :]
        block[:, np.arange(5), np.arange(5)] += 0.5 * pc
        active = [3] if self.brightness_only else list(range(5 if self.fit_size else 4))
        k = len(active)
        block = block[:, active][:, :, active]
        diag = block[:, np.arange(k), np.arange(k)] * damping + 1e-9
        block[:, np.arange(k), np.arange(k)] += diag
        free = parts.free
        rhs = np.where(free[:, None], g[:, active], 0.0)
        delta = np.zeros((len(parts), 5))
        delta[:, active] = self._solve(parts, block, diag + 0.5 * pc[:, active], rhs, active)
        # no step larger than a fraction of a radius; brightness stays in a plausible range
        bright = max(self.model.brightness, 1e-6)
        limit = MAX_STEP * self.h * self.model.size
        over = np.max(np.abs(delta[:, :3]) / limit, axis=1)
        delta[:, :3] /= np.maximum(over, 1.0)[:, None]
        out = parts.copy()
        out.pos[free] += delta[free, :3]
        # no particle leaves the box of half a radius around where it started: in heavy blur
        # the fit can otherwise walk a particle onto its neighbour's place
        cap = ANCHOR * self.h * self.model.size
        out.pos = np.clip(out.pos, parts.anchor - cap, parts.anchor + cap)
        out.amp[free] = np.clip(parts.amp[free] + delta[free, 3], 0.0, MAX_BRIGHTNESS * bright)
        if self.fit_size:
            out.size[free] = np.clip(parts.size[free] + delta[free, 4], 0.3, 3.0)
        self.last_step = float(np.sqrt((delta[free, :3] ** 2).mean())) if free.any() else 0.0
        return out

    def _solve(
        self,
        parts: Particles,
        block: np.ndarray,
        extra: np.ndarray,
        rhs: np.ndarray,
        active: list[int],
    ) -> np.ndarray:
        """Preconditioned conjugate gradients on the Gauss-Newton normal equations."""
        free = parts.free[:, None]
        inverse = np.linalg.inv(block)

        def precondition(r: np.ndarray) -> np.ndarray:
            return np.einsum("nij,nj->ni", inverse, r) * free

        if self.cg_iterations == 0:
            return precondition(rhs)

        def product(v: np.ndarray) -> np.ndarray:
            steps = np.zeros((len(parts), 5))
            steps[:, active] = v * free
            jv = self.canvas.tangent(parts.pos, parts.amp, parts.size, steps)
            out = self.canvas.pull(self.info * jv, parts.pos, parts.amp, parts.size)[:, active]
            return (out + extra * v) * free

        x = np.zeros_like(rhs)
        r = rhs.copy()
        z = precondition(r)
        d = z.copy()
        rz = float((r * z).sum())
        norm0 = float(np.sqrt((rhs * rhs).sum())) + 1e-300
        for _ in range(self.cg_iterations):
            ad = product(d)
            alpha = rz / max(float((d * ad).sum()), 1e-300)
            x += alpha * d
            r -= alpha * ad
            if float(np.sqrt((r * r).sum())) < CG_TOLERANCE * norm0:
                break
            z = precondition(r)
            rz_new = float((r * z).sum())
            d = z + (rz_new / max(rz, 1e-300)) * d
            rz = rz_new
        return x

    def run(
        self,
        parts: Particles,
        *,
        iterations: int = 30,
        tol: float = 2e-3,
        mask: np.ndarray | None = None,
        brightness_only: bool = False,
    ) -> Particles:
        """Iterate until the free particles move by less than ``tol`` voxels (RMS).

        ``mask`` multiplies the noise weights (0: voxels left out of the fit);
        ``brightness_only`` keeps positions and sizes where they are.
        """
        self.mask = mask
        self.brightness_only = brightness_only
        state = self.evaluate(parts)
        self.update_weights(state, mask)
        state = self.evaluate(parts)
        damping = 1.0
        for it in range(iterations):
            trial = self.step(parts, state, damping)
            new = self.evaluate(trial)
            if new.objective <= state.objective:
                parts, state = trial, new
                damping = max(damping / 2.0, 0.5)
                if self.last_step < tol:
                    break
            else:
                damping *= 4.0
                if damping > 1e4:
                    break
            if it % 6 == 5:
                self.update_weights(state, mask)
                state = self.evaluate(parts)
        self.state = state
        return parts
