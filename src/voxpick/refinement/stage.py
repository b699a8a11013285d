"""The refine stage as a detector of the contract, so that it runs block by block like locate.

:class:`RefineDetector` holds the particles to refine. ``estimate`` measures the image model on
a central box (:mod:`voxpick.refinement.estimate`); ``find`` fits every particle whose light
reaches a block (core plus halo), moves particles in and out (:mod:`voxpick.refinement.moves`)
and reports the ones the block's core owns, by their position *before* the fit, so that every
input particle is reported by exactly one block even when the fit moves it across a border;
``finish`` puts the fitted positions in place and drops the removed and the duplicated
additions. The halo is wide enough that a particle's fit in a block equals its fit in the whole
volume (to the fit's tolerance).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from voxpick.detect.contract import Box, Detector, Setup
from voxpick.detect.maxima import suppress_close
from voxpick.detect.measure import measure_particles
from voxpick.detect.schema import DETECTION_COLUMNS, REFINED_COLUMNS
from voxpick.io.source import VolumeSource
from voxpick.refinement.estimate import estimate_model, measurement_box
from voxpick.refinement.fisher import particle_covariance, template_gram, template_jacobian
from voxpick.refinement.fit import Fitter, Particles
from voxpick.refinement.model import Canvas, ImageModel, margin_for
from voxpick.refinement.moves import (
    bic_penalty,
    close_pairs,
    find_additions,
    removable,
    trial_merges,
)

#: Rounds of residual moves (add, then remove) after the first fit.
MOVE_ROUNDS = 3

#: Gauss-Newton iterations of the first fit and after each round of moves.
FIT_ITERATIONS = 30
MOVE_ITERATIONS = 10

#: Fit tolerance: RMS position step (voxels) below which the fit stops; the last fit runs to
#: the tighter one.
TOLERANCE = 5e-3
FINAL_TOLERANCE = 1e-3

#: PSF z sigma, in particle radii, above which refine warns (measured: recall lowered at
#: 2.1 radii, unchanged at 1.4; docs/benchmarks.md "Size limit").
BLUR_WARNING = 1.5

_PRIVATE = ("_index", "_rz", "_ry", "_rx", "_keep")


class ParticleTable:
    """The particles to refine; its ``repr`` names them by a digest (for resume manifests)."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        pos = np.ascontiguousarray(table[["z", "y", "x"]].to_numpy(dtype=np.float64))
        self.digest = hashlib.sha1(pos.tobytes()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"ParticleTable(n={len(self.table)}, sha1={self.digest})"


class RefineDetector(Detector):
    """Fit the image model to given particles; the refine stage of the detector contract.

    Parameters
    ----------
    particles : pandas.DataFrame
        The particles to refine (whole-volume voxels): the detection schema, or at least
        ``z, y, x`` (validated by :func:`voxpick.refine`).
    moves : bool
        Add the particles the residual shows and remove those the data do not need.
    """

    name = "refine"
    columns: ClassVar[tuple[str, ...]] = REFINED_COLUMNS

    def __init__(self, *, particles: pd.DataFrame, moves: bool = True) -> None:
        self.particles = ParticleTable(particles)
        self.moves = bool(moves)

    def estimate(self, source: VolumeSource, setup: Setup) -> dict[str, Any]:
        """Measure the image model on a central box; see :class:`Detector`."""
        box = measurement_box(source.shape, setup.diameter_px)
        data = _bright(source.read(box), setup.invert)
        pos = self.particles.table[["z", "y", "x"]].to_numpy(dtype=float)
        model = estimate_model(
            data, box, source.shape, pos, setup.diameter_px,
            limits=recorded_range(source.dtype, setup.invert),
        )  # fmt: skip
        radius_z = model.size * model.semi_axes[0]
        if model.psf_sigma[0] > BLUR_WARNING * radius_z:
            warnings.warn(
                f"the measured PSF is {model.psf_sigma[0]:.1f} voxels (sigma) along z, more than "
                f"{BLUR_WARNING:g} times the particle radius {radius_z:.1f}: in such blur refine "
                "can lower the recall (docs/refine.md, Limits). Compare with the detections.",
                stacklevel=2,
            )
        return {"model": model.as_dict(), "n_voxels": int(np.prod(source.shape))}

    def context(
        self, setup: Setup, params: dict[str, Any]
    ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """Halo: two reaches of a particle's light (its fit, and its neighbours')."""
        model = ImageModel.from_dict(params["model"])
        reach = margin_for(model)
        halo = tuple(
            int(2 * r + math.ceil(d)) for r, d in zip(reach, setup.diameter_px, strict=True)
        )
        return halo, (1, 1, 1)  # type: ignore[return-value]

    def find(
        self, block: np.ndarray, setup: Setup, params: dict[str, Any], *, box: Box
    ) -> pd.DataFrame:
        """Fit the particles of one block; see :class:`Detector`."""
        model = ImageModel.from_dict(params["model"])
        origin = tuple(int(s.start or 0) for s in box)
        data = _bright(block, setup.invert)
        pos = self.particles.table[["z", "y", "x"]].to_numpy(dtype=float)
        limits = recorded_range(block.dtype, setup.invert)
        canvas = Canvas(data, origin, model, limits=limits)  # type: ignore[arg-type]
        size_max = model.size * (1.0 + 3.0 * model.size_spread)
        near = np.flatnonzero(canvas.covers(pos, size_max))
        parts = Particles(
            pos[near], np.full(len(near), model.brightness), np.full(len(near), model.size),
            tag=near,
        )  # fmt: skip
        jac = template_jacobian(model)
        fitter = Fitter(canvas, template_gram(jac), fit_size=True)
        penalty = bic_penalty(params["n_voxels"], fitter.fit_size)
        if self.moves:
            # the particles the detector missed first: left out, their light pulls their
            # neighbours off while the positions are fitted
            parts = fitter.run(parts, iterations=3, tol=0.0, brightness_only=True)
            new, _ = find_additions(fitter, parts, jac[3], penalty)
            new.tag = np.full(len(new), -1)
            parts = parts.append(new)
        parts = fitter.run(parts, iterations=FIT_ITERATIONS, tol=TOLERANCE)
        cov = None
        if self.moves:
            reach = np.asarray(margin_for(model), float)
            tried = np.zeros((0, 3))
            for _ in range(MOVE_ROUNDS):
                new, _ = find_additions(fitter, parts, jac[3], penalty, avoid=tried)
                if len(new):
                    new.tag = np.full(len(new), -1)
                    parts = fitter.run(parts.append(new), iterations=MOVE_ITERATIONS, tol=TOLERANCE)
                cov = _covariance(fitter, parts, origin, jac)
                # only additions and the dimmer of pairs pushed into each other may go: in
                # heavy blur the second-order test also drops real particles of the input
                close, _ = close_pairs(parts, model.semi_axes)
                trials = np.union1d(np.flatnonzero(parts.tag < 0), close).astype(int)
                gone = removable(parts, cov, trials[parts.free[trials]], penalty, reach)
                tried = np.vstack([tried, parts.pos[gone[parts.tag[gone] < 0]]])
                if len(gone):
                    keep = np.ones(len(parts), bool)
                    keep[gone] = False
                    parts = fitter.run(parts.take(keep), iterations=MOVE_ITERATIONS, tol=TOLERANCE)
                # two fits of one particle, pushed apart: try them as one
                parts, merged = trial_merges(
                    fitter, parts, close_pairs(parts, model.semi_axes), penalty, reach
                )
                if len(new) == 0 and len(gone) == 0 and merged == 0:
                    break
        if len(parts):
            parts = fitter.run(parts, iterations=FIT_ITERATIONS, tol=FINAL_TOLERANCE)
        cov = _covariance(fitter, parts, origin, jac)
        sigma = np.sqrt(np.maximum(cov[:, np.arange(3), np.arange(3)], 0.0))
        # how much the data need each particle: its Wald statistic over the penalty, rooted
        wald = parts.amp**2 / np.maximum(cov[:, 3, 3], 1e-300)
        strength = np.sqrt(wald / penalty)
        return _block_table(self.particles.table, parts, strength, sigma, data, setup, box)

    def finish(
        self, candidates: pd.DataFrame, setup: Setup, params: dict[str, Any]
    ) -> pd.DataFrame:
        """Put the fitted positions in place; drop removed and duplicated particles."""
        table = candidates.copy()
        kept_input = (table["_index"] >= 0) & table["_keep"]
        added = table["_index"] < 0
        table.loc[:, ["z", "y", "x"]] = table[["_rz", "_ry", "_rx"]].to_numpy()
        table = table[kept_input | added].reset_index(drop=True)
        pos = table[["z", "y", "x"]].to_numpy(dtype=float)
        inside = np.all((pos >= -0.5) & (pos < np.asarray(setup.shape) - 0.5), axis=1)
        table = table[inside].reset_index(drop=True)
        # an addition near a block border may be found by two blocks: keep one
        rank = np.where(table["_index"] >= 0, np.inf, table["score"].to_numpy(dtype=float))
        keep = suppress_close(table[["z", "y", "x"]].to_numpy(float), rank, setup.diameter_px, 0.5)
        out = table[keep | (table["_index"] >= 0)].reset_index(drop=True)
        model = params["model"]
        out.attrs["refine"] = {
            "n_input": len(self.particles.table),
            "n_removed": int(len(self.particles.table) - int((out["_index"] >= 0).sum())),
            "n_added": int((out["_index"] < 0).sum()),
            "psf_sigma": model["psf_sigma"],
            "radius_px": [model["size"] * h for h in model["semi_axes"]],
            "size_spread": model["size_spread"],
            "brightness": model["brightness"],
            "background": model["background"][0],
        }
        return out.drop(columns=list(_PRIVATE))


def _covariance(
    fitter: Fitter, parts: Particles, origin: tuple[int, ...], jac: np.ndarray
) -> np.ndarray:
    """Covariance of every particle's parameters at the current fit."""
    return particle_covariance(
        fitter.model, fitter.info, parts.pos, parts.amp, free_size=fitter.fit_size,
        origin=origin, jac=jac,  # type: ignore[arg-type]
    )  # fmt: skip


def recorded_range(dtype: np.dtype, invert: bool) -> tuple[float, float] | None:
    """Range integer data saturate at, in the sign the fit uses (None for float data)."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.integer):
        return None
    info = np.iinfo(dtype)
    lo, hi = float(info.min), float(info.max)
    return (-hi, -lo) if invert else (lo, hi)


def _bright(block: np.ndarray, invert: bool) -> np.ndarray:
    data = np.asarray(block, dtype=np.float32)
    return -data if invert else data


def _block_table(
    particles: pd.DataFrame,
    parts: Particles,
    strength: np.ndarray,
    sigma: np.ndarray,
    data: np.ndarray,
    setup: Setup,
    box: Box,
) -> pd.DataFrame:
    """Return the rows of one block: input particles (at their input position), additions.

    ``strength`` is the score of the additions and of input particles that came without one.
    """
    ids = parts.tag
    origin = np.array([s.start or 0 for s in box], float)
    shape = np.asarray(data.shape)
    fitted = parts.pos
    # input particles whose input position lies in the block (the tiler keeps the core's)
    in_block = np.all((particles[["z", "y", "x"]].to_numpy(float) - origin >= -0.5), axis=1)
    in_block &= np.all(particles[["z", "y", "x"]].to_numpy(float) - origin < shape - 0.5, axis=1)
    rows = np.flatnonzero(in_block)
    where = {int(i): j for j, i in enumerate(ids) if i >= 0}
    local = fitted - origin
    inside_data = np.all((local >= -0.5) & (local < shape - 0.5), axis=1)
    measured = measure_particles(
        data, np.clip(local, 0, shape - 1), setup.diameter_px, invert=setup.invert
    )
    out = particles.iloc[rows].reset_index(drop=True).copy()
    out["_index"] = rows
    keep = np.array([int(i) in where for i in rows], bool)
    out["_keep"] = keep
    j = np.array([where.get(int(i), 0) for i in rows], int)
    for a, name in enumerate(("_rz", "_ry", "_rx")):
        out[name] = np.where(keep, fitted[j, a] if len(fitted) else np.nan, np.nan)
    for a, name in enumerate(("sigma_z", "sigma_y", "sigma_x")):
        out[name] = np.where(keep, sigma[j, a] if len(sigma) else np.nan, np.nan)
    for name in ("mass", "signal", "background"):
        out[name] = np.where(keep, measured[name][j] if len(fitted) else np.nan, np.nan)
    unscored = keep & out["score"].isna().to_numpy()
    out.loc[unscored, "score"] = strength[j[unscored]]
    out[["z", "y", "x"]] = out[["z", "y", "x"]].to_numpy(float) - origin
    new = np.flatnonzero((ids < 0) & inside_data)
    add = pd.DataFrame(
        {
            "z": local[new, 0], "y": local[new, 1], "x": local[new, 2],
            "score": strength[new],
            "detector": "refine", "snr": np.nan, "heatmap": np.nan,
            "mass": measured["mass"][new], "signal": measured["signal"][new],
            "background": measured["background"][new], "sharp_only": False,
            "sigma_z": sigma[new, 0], "sigma_y": sigma[new, 1], "sigma_x": sigma[new, 2],
            "_index": -1, "_keep": True,
            "_rz": fitted[new, 0], "_ry": fitted[new, 1], "_rx": fitted[new, 2],
        }
    )  # fmt: skip
    cols = [*DETECTION_COLUMNS, "sigma_z", "sigma_y", "sigma_x", *_PRIVATE]
    frames = [f[cols] for f in (out, add) if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    return pd.concat(frames, ignore_index=True)
