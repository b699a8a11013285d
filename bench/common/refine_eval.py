"""Scoring helpers shared by the refine and size-limit benchmarks: errors, CRB, locking."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

ZYX = ["z", "y", "x"]


def matched_errors(
    truth: pd.DataFrame, found: pd.DataFrame, *, radius: float, border: float, shape: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one matches (Hungarian, within ``radius``) of interior truth particles.

    Returns
    -------
    errors : numpy.ndarray
        ``(M, 3)`` found minus true position, voxels.
    truth_index, found_index : numpy.ndarray
        Rows of the matched pairs.
    """
    tp = truth[ZYX].to_numpy(float)
    fp = found[ZYX].to_numpy(float) if len(found) else np.zeros((0, 3))
    if len(fp) == 0 or len(tp) == 0:
        return np.zeros((0, 3)), np.zeros(0, int), np.zeros(0, int)
    pairs = cKDTree(tp).sparse_distance_matrix(cKDTree(fp), radius, output_type="coo_matrix")
    cost = np.full((len(tp), len(fp)), 1e6)
    cost[pairs.row, pairs.col] = pairs.data
    ti, fi = linear_sum_assignment(cost)
    ok = cost[ti, fi] < radius
    ti, fi = ti[ok], fi[ok]
    hi = np.asarray(shape, float) - 1 - border
    inner = np.all((tp[ti] > border) & (tp[ti] < hi), axis=1)
    ti, fi = ti[inner], fi[inner]
    return fp[fi] - tp[ti], ti, fi


def rms(errors: np.ndarray) -> np.ndarray:
    """RMS per axis (NaN when empty)."""
    if len(errors) == 0:
        return np.full(3, np.nan)
    return np.sqrt((np.asarray(errors) ** 2).mean(axis=0))


def locking(positions: np.ndarray, bins: int = 10) -> float:
    """Pixel locking: largest over smallest count of the fractional parts' histogram (1: flat).

    The fractional part is taken relative to the voxel centre (``position - round``), per axis
    pooled over y and x.
    """
    frac = np.asarray(positions, float) - np.rint(positions)
    counts, _ = np.histogram(frac.ravel(), bins=bins, range=(-0.5, 0.5))
    return float(counts.max() / max(counts.min(), 1))


def true_model(sim: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """The simulator's own image model: model, truth positions, sizes, brightness above bg."""
    from voxpick.refinement.model import ImageModel

    md = sim.metadata
    r = md["r"]
    truth = sim.truth
    model = ImageModel(
        semi_axes=(r, r, r), size=1.0, size_spread=float(md.get("polydispersity", 0.0)),
        psf_sigma=(md["psf_sigma_z"], md["psf_sigma_y"], md["psf_sigma_x"]),
        background=(md["b_mean"], 0.0, 0.0, 0.0), brightness=md["brightness"] - md["b_mean"],
        noise=(1.0 / 12.0, md["f_sigma"] ** 2 / md["brightness"]), shape=sim.volume.shape,
    )  # fmt: skip
    sizes = truth["r"].to_numpy(float) / r
    amps = truth["brightness"].to_numpy(float) - md["b_mean"]
    return model, truth[ZYX].to_numpy(float), sizes, amps


def cramer_rao(sim: Any) -> np.ndarray:
    """Cramer-Rao bound (standard deviation per axis, voxels) of every truth particle.

    From the Fisher information of the simulator's image model at the true parameters, with
    the simulator's noise (shot noise plus 8-bit rounding) and its saturation at 0 and 255 (a
    saturated voxel carries less information); the sizes count as unknown when they spread.
    Particles beyond the faces are not in the truth table, so the bound of particles near a
    face is optimistic: read it away from the faces.
    """
    from voxpick.refinement.fisher import particle_covariance
    from voxpick.refinement.model import Canvas, clipped_mean

    model, pos, sizes, amps = true_model(sim)
    canvas = Canvas(sim.volume.astype(np.float32), (0, 0, 0), model)
    raw = canvas.expected(pos, amps, sizes)
    variance = model.variance(raw)
    _, slope = clipped_mean(raw, np.sqrt(variance), 0.0, 255.0)
    weights = slope**2 / variance
    free = model.size_spread > 0
    cov = particle_covariance(model, weights, pos, amps, free_size=free)
    return np.sqrt(np.maximum(cov[:, [0, 1, 2], [0, 1, 2]], 0.0))
