"""Measure the image model from the volume itself, given the detections.

On a central box of the volume (a few diameters across), the particles found there are fitted
together with the global parameters: the PSF width (axial and lateral), the particle size,
the background level and the brightness, alternating a few Gauss-Newton iterations of the
particles (:mod:`voxpick.refinement.fit`) with one Levenberg-Marquardt step of the global
parameters (their derivatives are exact: the PSF's in Fourier space, the size's from the
renderer). The noise variance is then fitted as a line in the expected intensity, and the
spread of the particle sizes by comparing the spread of fitted sizes with their Fisher
uncertainty (what the noise alone would spread them by). Nothing is left for the user to tune.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft

from voxpick.detect.filters import estimate_noise
from voxpick.refinement.fisher import template_gram, template_jacobian
from voxpick.refinement.fit import Fitter, Particles
from voxpick.refinement.model import MIN_VARIANCE, Canvas, ImageModel, clipped_mean, margin_for
from voxpick.refinement.moves import bic_penalty, find_additions

#: Smallest edge (voxels) and size in diameters of the box the model is measured on.
MIN_BOX = 48
BOX_DIAMETERS = 4.0

#: Smallest PSF width considered (voxels): below this the pixel integration dominates.
MIN_SIGMA = 0.3

#: Largest PSF sigma per axis, in semi-axes of a particle of the diameter given, and the
#: range of the mean size relative to that diameter (bounds on a fit that runs away on a
#: volume the model does not describe).
MAX_SIGMA = 6.0
SIZE_RANGE = (0.4, 2.5)

#: Sizes spread less than this (relative) are taken as equal.
MIN_SPREAD = 0.03

#: Rounds after which the particles the residual shows are added.
ADD_ROUNDS = (1, 3, 5)

#: Starting lateral PSF widths, fractions of the radius given; z starts ``ASPECT`` times wider.
START_WIDTHS = (0.15, 0.45)
ASPECT = 2.5

#: Rounds run from every start before the best one is continued.
SCREEN_ROUNDS = 3


def measurement_box(
    shape: tuple[int, int, int], diameter_px: tuple[float, float, float]
) -> tuple[slice, slice, slice]:
    """Return the central box the image model is measured on."""
    out = []
    for n, d in zip(shape, diameter_px, strict=True):
        edge = min(n, max(MIN_BOX, math.ceil(BOX_DIAMETERS * d)))
        start = (n - edge) // 2
        out.append(slice(start, start + edge))
    return (out[0], out[1], out[2])


def initial_model(
    data: np.ndarray, shape: tuple[int, int, int], diameter_px: tuple[float, float, float]
) -> ImageModel:
    """Return starting values: the diameter given, a moderate PSF, the data's noise."""
    h = tuple(d / 2.0 for d in diameter_px)
    hbar = float(np.mean(h[1:]))
    sxy = max(0.5, 0.15 * hbar)
    noise = estimate_noise(data)
    level = float(np.percentile(data, 20))
    return ImageModel(
        semi_axes=h,  # type: ignore[arg-type]
        size=1.0,
        size_spread=0.0,
        psf_sigma=(2.0 * sxy * h[0] / hbar, sxy * h[1] / hbar, sxy * h[2] / hbar),
        background=(level, 0.0, 0.0, 0.0),
        brightness=max(float(np.percentile(data, 95)) - level, 1.0),
        noise=(noise**2, 0.0),
        shape=shape,
    )


def _face_mask(box: tuple[slice, ...], shape: tuple[int, ...], model: ImageModel) -> np.ndarray:
    """Return 1 inside the box, 0 within a particle's reach of a face of the whole volume.

    The reach is capped at a quarter of the volume per axis, so that a small volume of large
    particles keeps voxels to measure on.
    """
    mask = np.ones([s.stop - s.start for s in box], np.float32)
    for axis, (sl, n) in enumerate(zip(box, shape, strict=True)):
        reach = math.ceil(model.size * model.semi_axes[axis] + 2.0 * model.psf_sigma[axis])
        reach = min(reach, n // 4)
        idx = np.arange(sl.start, sl.stop)
        bad = (idx < reach) | (idx > n - 1 - reach)
        view = np.moveaxis(mask, axis, 0)
        view[bad] = 0.0
    return mask


def _fit_noise(expected: np.ndarray, residual: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Noise variance as ``a + b * expected``: least squares on binned squared residuals."""
    e = expected[mask > 0].ravel()
    r2 = (residual[mask > 0].ravel()) ** 2
    if e.size < 100:
        r2 = residual.ravel() ** 2
        return float(max(np.mean(r2) if r2.size else 1.0, MIN_VARIANCE)), 0.0
    edges = np.unique(np.percentile(e, np.linspace(0, 100, 21)))
    if len(edges) < 3:
        return float(max(np.mean(r2), MIN_VARIANCE)), 0.0
    which = np.clip(np.searchsorted(edges, e, side="right") - 1, 0, len(edges) - 2)
    count = np.bincount(which, minlength=len(edges) - 1)
    ok = count > 20
    if ok.sum() < 2:  # the expected image takes about one value (e.g. mostly background)
        return float(max(np.mean(r2), MIN_VARIANCE)), 0.0
    mean_e = np.bincount(which, e, minlength=len(edges) - 1)[ok] / count[ok]
    mean_v = np.bincount(which, r2, minlength=len(edges) - 1)[ok] / count[ok]
    b, a = np.polyfit(mean_e, mean_v, 1, w=np.sqrt(count[ok]))
    if a < MIN_VARIANCE:
        # read-out noise cannot be negative: shot noise alone, through the 8-bit floor
        a = MIN_VARIANCE
        b = float(np.sum(count[ok] * mean_e * (mean_v - a)) / np.sum(count[ok] * mean_e**2))
    # (dark particles come negated: their shot noise grows towards negative values, b < 0)
    if min(a + b * mean_e.min(), a + b * mean_e.max()) < MIN_VARIANCE:
        return float(max(np.mean(r2), MIN_VARIANCE)), 0.0
    return float(a), float(b)


def _global_step(fitter: Fitter, parts: Particles, damping: float) -> tuple[ImageModel, float]:
    """Take one Levenberg-Marquardt step of PSF, size, background and brightness scale.

    The PSF has one axial and one lateral width (y and x tied: a confocal PSF is symmetric
    about the optical axis; fitted apart they wander in dense, blurred volumes).
    """
    canvas = fitter.canvas
    model = canvas.model
    occ = canvas.occupancy(parts.pos, parts.amp, parts.size)
    spec = canvas.spectrum(occ)
    base = spec * canvas._transfer
    blurred = scipy.fft.irfftn(base, s=canvas.shape, workers=-1)[canvas.inner]
    columns = []
    for axis in range(3):
        n = canvas.shape[axis]
        f = scipy.fft.rfftfreq(n) if axis == 2 else scipy.fft.fftfreq(n)
        shape = [1, 1, 1]
        shape[axis] = len(f)
        factor = (-4.0 * math.pi**2 * model.psf_sigma[axis] * f**2).reshape(shape)
        columns.append(scipy.fft.irfftn(base * factor, s=canvas.shape, workers=-1)[canvas.inner])
    columns[1:3] = [columns[1] + columns[2]]  # one lateral width
    steps = np.zeros((len(parts), 5))
    steps[:, 4] = parts.size / model.size  # all sizes scaled together
    columns.append(canvas.tangent(parts.pos, parts.amp, parts.size, steps))
    columns.append(blurred / max(model.brightness, 1e-6))  # brightness scale
    columns.append(np.ones_like(blurred))
    raw = canvas.background + blurred
    residual = canvas.data - raw
    if canvas.limits is not None:
        expected, slope = clipped_mean(raw, np.sqrt(model.variance(raw)), *canvas.limits)
        residual = canvas.data - expected
        columns = [c * slope for c in columns]
    w = fitter.weights
    k = len(columns)
    a = np.zeros((k, k))
    b = np.zeros(k)
    for i in range(k):
        wi = w * columns[i]
        b[i] = float((wi * residual).sum(dtype=np.float64))
        for j in range(i, k):
            a[i, j] = a[j, i] = float((wi * columns[j]).sum(dtype=np.float64))
    a_damped = a + damping * np.diag(np.diag(a)) + 1e-12 * np.eye(k)
    step = np.linalg.solve(a_damped, b)
    dz, dxy, dsize, dscale, dbg = step
    sz, sy, sx = model.psf_sigma
    sigma = tuple(
        float(np.clip(value, MIN_SIGMA, max(MIN_SIGMA, MAX_SIGMA * h)))
        for value, h in zip((sz + dz, sy + dxy, sx + dxy), model.semi_axes, strict=True)
    )
    size = float(np.clip(model.size + dsize, 0.5 * model.size, 1.5 * model.size))
    size = float(np.clip(size, *SIZE_RANGE))
    scale = 1.0 + dscale / max(model.brightness, 1e-6)
    c = model.background
    background = (c[0] + dbg, c[1], c[2], c[3])
    new = model.with_(psf_sigma=sigma, size=size, background=background)
    parts.amp *= max(scale, 0.2)
    parts.size *= size / model.size
    return new, float(np.max(np.abs(np.asarray(sigma) - model.psf_sigma) / model.psf_sigma))


def estimate_model(
    data: np.ndarray,
    box: tuple[slice, slice, slice],
    shape: tuple[int, int, int],
    positions: np.ndarray,
    diameter_px: tuple[float, float, float],
    *,
    limits: tuple[float, float] | None = None,
    rounds: int = 12,
) -> ImageModel:
    """Measure the image model on one box of the volume.

    In dense, blurred volumes a wide PSF on small particles and a narrow one on large
    particles (with a higher background) can both explain the image locally, so the fit
    starts from a few PSF widths (:data:`START_WIDTHS`), runs a few rounds from each, and
    continues from the one with the best penalised likelihood.

    Parameters
    ----------
    data : numpy.ndarray
        The voxels of ``box`` (float, bright particles).
    box : tuple of 3 slice
        Where ``data`` lies in the whole volume.
    shape : tuple of 3 int
        Shape of the whole volume.
    positions : numpy.ndarray
        ``(N, 3)`` detections, whole-volume voxels (all of them; those near the box are used).
    diameter_px : tuple of 3 float
        Diameter given, voxels per axis.
    limits : tuple of 2 float, optional
        Range the data were recorded in (they saturate at its ends).
    rounds : int
        Alternations of particle and global steps.

    Returns
    -------
    ImageModel
    """
    origin = tuple(int(s.start) for s in box)
    base = initial_model(data, shape, diameter_px)
    penalty = bic_penalty(int(np.prod(shape)), fit_size=False)
    best: tuple[float, ImageModel, Particles, Canvas, np.ndarray] | None = None
    for width in START_WIDTHS:
        h = base.semi_axes
        lateral = width * float(np.mean(h[1:]))
        start = base.with_(psf_sigma=(ASPECT * width * h[0], lateral, lateral))
        # room for the PSF to grow by half from its start
        room = start.with_(psf_sigma=tuple(1.5 * s for s in start.psf_sigma))
        canvas = Canvas(
            data, (origin[0], origin[1], origin[2]), start,
            margin=margin_for(room, size_max=1.5), limits=limits,
        )  # fmt: skip
        near = canvas.covers(positions, 1.5)
        mask = _face_mask(box, shape, start)
        parts = Particles(positions[near], np.ones(near.sum()), np.ones(near.sum()))
        # particles outside the measured voxels are rendered but not fitted (no data say where)
        idx = np.rint(canvas.to_canvas(parts.pos) - canvas.margin).astype(int)
        inside = np.all((idx >= 0) & (idx < np.asarray(data.shape)), axis=1)
        parts.free = inside.copy()
        parts.free[inside] = mask[tuple(idx[inside].T)] > 0
        start = _linear_start(canvas, mask, start, parts)
        model, parts, score = _fit_box(canvas, mask, start, parts, penalty, rounds=SCREEN_ROUNDS)
        if best is None or score < best[0]:
            best = (score, model, parts, canvas, mask)
    assert best is not None  # START_WIDTHS is not empty
    _, model, parts, canvas, mask = best
    model, parts, _ = _fit_box(canvas, mask, model, parts, penalty, rounds=rounds)
    model = model.with_(brightness=float(np.median(parts.amp)))
    return _measure_spread(canvas, model, parts, mask)


def _linear_start(
    canvas: Canvas, mask: np.ndarray, model: ImageModel, parts: Particles
) -> ImageModel:
    """Background level and brightness by linear least squares, nothing moved."""
    canvas.set_model(model)
    unit = canvas.blur(canvas.occupancy(parts.pos, np.ones(len(parts)), parts.size))[canvas.inner]
    design = np.stack([np.ones(unit[mask > 0].size), unit[mask > 0].ravel()], axis=1)
    (level, amp), *_ = np.linalg.lstsq(design, canvas.data[mask > 0].ravel(), rcond=None)
    amp = max(float(amp), 1.0)
    parts.amp[:] = amp
    return model.with_(background=(float(level), 0.0, 0.0, 0.0), brightness=amp)


def _fit_box(
    canvas: Canvas,
    mask: np.ndarray,
    model: ImageModel,
    parts: Particles,
    penalty: float,
    *,
    rounds: int,
) -> tuple[ImageModel, Particles, float]:
    """Alternate particle and global steps; return the model, the particles, the score.

    The score is the Gaussian negative log-likelihood of the masked voxels plus the penalty
    per particle (so that fits with other noise levels and particle counts compare).
    """
    damping = 1.0
    jac = template_jacobian(model)
    fitter = Fitter(canvas, template_gram(jac), fit_size=False)
    for round_ in range(rounds):
        canvas.set_model(model)
        jac = template_jacobian(model)
        fitter = Fitter(canvas, template_gram(jac), fit_size=False)
        parts = fitter.run(parts, iterations=3, tol=0.0, mask=mask)
        added = 0
        if round_ in ADD_ROUNDS:
            # particles the detector missed would bias the PSF and size: add them first
            new, _ = find_additions(fitter, parts, jac[3], penalty)
            added = len(new)
            if added:
                parts = fitter.run(parts.append(new), iterations=3, tol=0.0, mask=mask)
        state = fitter.state
        unclipped = mask if state.slope is None else mask * (state.slope > 0.95)
        raw = state.expected if state.raw is None else state.raw
        model = model.with_(
            noise=_fit_noise(raw, state.residual, unclipped),
            brightness=float(np.median(parts.amp)),
        )
        canvas.set_model(model)
        fitter.model = model
        state = fitter.evaluate(parts)
        fitter.update_weights(state, mask)
        before = fitter.evaluate(parts).chi2
        trial = parts.copy()
        new_model, change = _global_step(fitter, trial, damping)
        canvas.set_model(new_model)
        fitter.model = new_model
        after = fitter.evaluate(trial).chi2
        fitter.model = model
        if after < before:
            model, parts, damping = new_model, trial, damping / 3.0
            if change < 0.01 and round_ >= ADD_ROUNDS[0] and not added:
                break
        else:
            canvas.set_model(model)
            damping *= 4.0
    canvas.set_model(model)
    fitter.model = model
    state = fitter.evaluate(parts)
    var = model.variance(state.expected if state.raw is None else state.raw)
    inside = mask > 0
    residual = state.residual[inside]
    nll = 0.5 * float((residual**2 / var[inside] + np.log(var[inside])).sum(dtype=np.float64))
    return model, parts, nll + penalty * len(parts)


def _measure_spread(
    canvas: Canvas, model: ImageModel, parts: Particles, mask: np.ndarray
) -> ImageModel:
    """Relative spread of the particle sizes beyond what the noise alone gives."""
    canvas.set_model(model.with_(size_spread=0.3))
    jac = template_jacobian(model)
    fitter = Fitter(canvas, template_gram(jac), fit_size=True)
    fitted = fitter.run(parts.copy(), iterations=40, tol=1e-3)
    inside = mask[
        tuple(
            np.clip(
                np.rint(canvas.to_canvas(fitted.pos)[:, a] - canvas.margin[a]), 0, n - 1
            ).astype(int)
            for a, n in enumerate(mask.shape)
        )
    ]
    inner = np.all(
        (canvas.to_canvas(fitted.pos) >= canvas.margin)
        & (canvas.to_canvas(fitted.pos) < canvas.margin + np.asarray(canvas.data.shape)),
        axis=1,
    ) & (inside > 0)
    canvas.set_model(model)
    if inner.sum() < 10:
        return model
    gram = template_gram(jac)
    w = fitter._local_weights(fitted)[inner]
    amp = fitted.amp[inner]
    var_noise = []
    for wi, ai in zip(w, amp, strict=True):
        scale = np.array([ai, ai, ai, 1.0, ai])
        fisher = wi * gram * np.outer(scale, scale)
        var_noise.append(np.linalg.pinv(fisher)[4, 4])
    sizes = fitted.size[inner]
    excess = float(np.var(sizes) - np.mean(var_noise))
    spread = math.sqrt(max(excess, 0.0)) / model.size
    return model.with_(size_spread=spread if spread >= MIN_SPREAD else 0.0)
