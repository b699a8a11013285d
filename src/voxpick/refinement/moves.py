"""Residual moves: add the particles the data still show, remove those the data do not need.

*Add.* The weighted residual is correlated with the blurred particle template (a matched
filter, one FFT): at each voxel ``gain = (T * W r)**2 / (T**2 * W)`` is how much the weighted
squared residual would drop with a particle there, at brightness ``(T * W r) / (T**2 * W)``.
Local maxima whose gain exceeds the complexity penalty (BIC: ``k ln n`` for ``k`` parameters
per particle and ``n`` voxels), whose brightness is that of a particle, and that do not sit
inside an existing particle are added, then fitted with the others. Particles just outside the
volume are allowed (they explain light at the faces) and dropped from the output.

*Remove.* A particle is taken out when the weighted squared residual would rise by less than
the penalty with the others refitted without it (to second order, its brightness over the
brightness's standard deviation, squared: a Wald test on the Fisher information of it and its
neighbours).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from scipy import ndimage
from scipy.spatial import cKDTree

from voxpick.refinement.fit import Fitter, Particles

#: Brightness of an added particle, relative to the median, that is accepted.
ADD_BRIGHTNESS = (0.25, 2.5)

#: Nearest existing particle an addition may have, in radii: where the hard-sphere penalty
#: starts (0.9 contact). A detection that fused two neighbours moves onto one of them in the
#: fit, and the other is then a contact away.
ADD_CLEARANCE = 1.8

#: ... and never closer than this many radii of the diameter given (0.8 diameter: hard spheres
#: of the size the user gave cannot be closer), also when the measured size is smaller.
MIN_ADD_DISTANCE = 1.6


def bic_penalty(n_voxels: int, fit_size: bool) -> float:
    """Complexity penalty of one particle: ``k ln n`` (BIC)."""
    k = 5 if fit_size else 4
    return float(k * math.log(max(int(n_voxels), 2)))


def _spectrum_of(template: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """FFT of a centred odd-sized patch placed at the origin of a grid of ``shape``."""
    # a template larger than the grid (a PSF wider than the box) is cut to it, centred
    cut = tuple(
        slice(max(0, (t - n) // 2 + (t - n) % 2), max(0, (t - n) // 2 + (t - n) % 2) + min(t, n))
        for t, n in zip(template.shape, shape, strict=True)
    )
    template = template[cut]
    grid = np.zeros(shape, np.float32)
    sl = tuple(slice(0, s) for s in template.shape)
    grid[sl] = template
    grid = np.roll(grid, tuple(-(s // 2) for s in template.shape), axis=(0, 1, 2))
    return scipy.fft.rfftn(grid, workers=-1)


def find_additions(
    fitter: Fitter,
    parts: Particles,
    template: np.ndarray,
    penalty: float,
    *,
    avoid: np.ndarray | None = None,
) -> tuple[Particles, np.ndarray]:
    """Particles to add where the residual has a particle-shaped peak.

    Parameters
    ----------
    fitter : Fitter
        After a fit (its ``state`` and ``weights`` are used).
    parts : Particles
        The current particles.
    template : numpy.ndarray
        Blurred particle of brightness 1 (odd-sized patch centred on it).
    penalty : float
        Smallest drop of the weighted squared residual an addition must give.
    avoid : numpy.ndarray, optional
        ``(M, 3)`` places where an addition was already tried and removed (not tried again).

    Returns
    -------
    Particles
        The new particles (free), at the median brightness.
    numpy.ndarray
        Their gains.
    """
    canvas = fitter.canvas
    model = canvas.model
    wr = np.zeros(canvas.shape, np.float32)
    wr[canvas.inner] = fitter.weighted_residual(fitter.state)
    w = np.zeros(canvas.shape, np.float32)
    w[canvas.inner] = fitter.info
    t_spec = np.conj(_spectrum_of(template, canvas.shape))
    t2_spec = np.conj(_spectrum_of(template * template, canvas.shape))
    num = scipy.fft.irfftn(scipy.fft.rfftn(wr, workers=-1) * t_spec, s=canvas.shape, workers=-1)
    den = scipy.fft.irfftn(scipy.fft.rfftn(w, workers=-1) * t2_spec, s=canvas.shape, workers=-1)
    full = float((template * template).sum())
    ok = den > 0.3 * full * float(np.median(fitter.info[fitter.info > 0]))
    amp = np.where(ok, num / np.where(ok, den, 1.0), 0.0)
    gain = np.where(ok & (amp > 0), num * amp, 0.0)
    # candidate centres: inside the box or less than a radius outside it
    reach = np.ceil(model.size * np.asarray(model.semi_axes)).astype(int)
    allowed = np.zeros(canvas.shape, bool)
    lo = np.maximum(canvas.margin - reach, 0)
    hi = canvas.margin + np.asarray(canvas.data.shape) + reach
    allowed[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = True
    bright = model.brightness
    good = allowed & (gain > penalty)
    good &= (amp > ADD_BRIGHTNESS[0] * bright) & (amp < ADD_BRIGHTNESS[1] * bright)
    if not good.any():
        return Particles(np.zeros((0, 3)), np.zeros(0), np.zeros(0)), np.zeros(0)
    size = tuple(max(3, round(h * model.size) | 1) for h in model.semi_axes)
    peak = good & (gain == ndimage.maximum_filter(gain, size=size))
    idx = np.argwhere(peak)
    gains = gain[peak]
    order = np.argsort(-gains)
    idx, gains = idx[order], gains[order]
    h = np.asarray(model.semi_axes, float)
    known = parts.pos if avoid is None or len(avoid) == 0 else np.vstack([parts.pos, avoid])
    existing = cKDTree(known / h) if len(known) else None
    chosen: list[int] = []
    pos = idx - canvas.margin + canvas.origin
    clearance = max(ADD_CLEARANCE * model.size, MIN_ADD_DISTANCE)
    apart = max(2.0 * model.size, MIN_ADD_DISTANCE)
    for j, p in enumerate(pos / h):
        if existing is not None and existing.query_ball_point(p, clearance):
            continue
        if any(np.linalg.norm(p - pos[c] / h) < apart for c in chosen):
            continue
        chosen.append(j)
    new = Particles(
        pos[chosen].astype(float), amp[tuple(idx[chosen].T)], np.full(len(chosen), model.size)
    )
    return new, gains[chosen]


def removable(
    parts: Particles,
    cov: np.ndarray,
    trials: np.ndarray,
    penalty: float,
    reach: np.ndarray,
) -> np.ndarray:
    """Trial particles the data do not need, none two within ``reach`` of each other.

    The rise of the weighted squared residual when particle ``i`` is taken out and every other
    parameter refitted is, to second order, the Wald statistic ``amp_i**2 / var(amp_i)``, with
    ``var(amp_i)`` from the Fisher information of ``i`` and its neighbours (``cov``). Below the
    penalty, the particle is not needed. Of two coupled candidates only the least needed is
    taken out in one round (taking out one changes what the other must explain).

    Parameters
    ----------
    parts : Particles
    cov : numpy.ndarray
        ``(N, k, k)`` covariances (:func:`voxpick.refinement.fisher.particle_covariance`).
    trials : numpy.ndarray
        Indices of the particles to test.
    penalty : float
        Complexity penalty of one particle.
    reach : numpy.ndarray
        Per-axis distance (voxels) within which two particles' fits interact.

    Returns
    -------
    numpy.ndarray
        Indices to remove.
    """
    if len(trials) == 0:
        return np.zeros(0, int)
    var = np.maximum(cov[trials, 3, 3], 1e-300)
    wald = parts.amp[trials] ** 2 / var
    cand = trials[wald < penalty]
    order = cand[np.argsort(wald[wald < penalty], kind="stable")]
    chosen: list[int] = []
    for i in order:
        if all(np.any(np.abs(parts.pos[i] - parts.pos[j]) > reach) for j in chosen):
            chosen.append(int(i))
    return np.array(chosen, dtype=int)


#: Pairs closer than this fraction of their contact distance get an explicit removal trial.
CLOSE_PAIR = 0.95


def close_pairs(
    parts: Particles, semi_axes: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Return the dimmer and the brighter particle of pairs closer than :data:`CLOSE_PAIR`.

    Each particle appears in one pair at most (the closest first).
    """
    none = (np.zeros(0, int), np.zeros(0, int))
    if len(parts) < 2:
        return none
    u = parts.pos / np.asarray(semi_axes, float)
    pairs = cKDTree(u).query_pairs(2.0 * float(parts.size.max()), output_type="ndarray")
    if len(pairs) == 0:
        return none
    d = np.linalg.norm(u[pairs[:, 0]] - u[pairs[:, 1]], axis=1)
    contact = parts.size[pairs[:, 0]] + parts.size[pairs[:, 1]]
    close = pairs[d < CLOSE_PAIR * contact]
    close = close[np.argsort(d[d < CLOSE_PAIR * contact])]
    used: set[int] = set()
    dim, bright = [], []
    for i, j in close:
        if i in used or j in used or not (parts.free[i] and parts.free[j]):
            continue
        used.update((int(i), int(j)))
        lo, hi = (i, j) if parts.amp[i] < parts.amp[j] else (j, i)
        dim.append(int(lo))
        bright.append(int(hi))
    return np.array(dim, dtype=int), np.array(bright, dtype=int)


def trial_merges(
    fitter: Fitter,
    parts: Particles,
    pairs: tuple[np.ndarray, np.ndarray],
    penalty: float,
    reach: np.ndarray,
    *,
    iterations: int = 6,
) -> tuple[Particles, int]:
    """Merge each close pair into one particle, refit, and keep it if the residual rose < penalty.

    Two fits of one particle (a detection and its duplicate) end pushed apart by the
    hard-sphere penalty, each with part of the light; the second-order test of
    :func:`removable` does not see that one particle at their brightness-weighted centre
    explains the light as well. Trials farther apart than twice ``reach`` are made together,
    in one refit; the rise of the weighted squared residual is read within ``reach`` of each.
    """
    dim, bright = pairs
    if len(dim) == 0:
        return parts, 0
    canvas = fitter.canvas
    chosen: list[int] = []
    for g, i in enumerate(dim):
        if all(np.any(np.abs(parts.pos[i] - parts.pos[dim[c]]) > 2.0 * reach) for c in chosen):
            chosen.append(g)
    dim, bright = dim[chosen], bright[chosen]
    before = fitter.evaluate(parts)
    merged = parts.copy()
    total = parts.amp[dim] + parts.amp[bright]
    weight = (parts.amp[dim] / np.maximum(total, 1e-12))[:, None]
    merged.pos[bright] = weight * parts.pos[dim] + (1.0 - weight) * parts.pos[bright]
    merged.anchor[bright] = merged.pos[bright]
    merged.amp[bright] = total
    keep = np.ones(len(parts), bool)
    keep[dim] = False
    trial = fitter.run(merged.take(keep), iterations=iterations, tol=0.0, mask=fitter.mask)
    after = fitter.state
    accept = np.zeros(len(dim), bool)
    for g, i in enumerate(dim):
        box = _box(canvas, parts.pos[i], reach)
        w = fitter.weights[box]
        rise = float((w * after.residual[box] ** 2).sum() - (w * before.residual[box] ** 2).sum())
        accept[g] = rise < penalty
    if accept.all():
        return trial, len(dim)
    # keep the merges that paid, undo the others
    out = parts.copy()
    out.pos[bright[accept]] = merged.pos[bright[accept]]
    out.anchor[bright[accept]] = merged.pos[bright[accept]]
    out.amp[bright[accept]] = merged.amp[bright[accept]]
    keep = np.ones(len(parts), bool)
    keep[dim[accept]] = False
    return out.take(keep), int(accept.sum())


def _box(canvas: object, centre: np.ndarray, half: np.ndarray) -> tuple[slice, slice, slice]:
    """Voxels of the canvas's box within ``half`` of a whole-volume position."""
    c = np.asarray(centre) - canvas.origin  # type: ignore[attr-defined]
    shape = np.asarray(canvas.data.shape)  # type: ignore[attr-defined]
    lo = np.clip(np.floor(c - half).astype(int), 0, shape)
    hi = np.clip(np.ceil(c + half).astype(int) + 1, 0, shape)
    return (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
