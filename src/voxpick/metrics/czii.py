"""The CZII CryoET Object Identification competition score, reproduced exactly.

For every experiment of the solution and every particle type of the solution, the truth points
of that (experiment, type) are put in a KD-tree and every pick of the same (experiment, type)
queries it with a ball of radius ``radius_A * distance_multiplier`` (0.5 in the competition;
a pick exactly on the sphere counts). ``tp`` is the number of *distinct* truth points hit by
at least one pick, ``fp = n_picks - tp`` and ``fn = n_truth - tp``. Because one pick may hit two
truth points, ``fp`` can be negative and precision can exceed 1: this is the competition's
behaviour and it is kept. Counts are summed over experiments per type, then per type

    precision = tp / (tp + fp), recall = tp / (tp + fn)   (0 when the denominator is 0)
    F_beta = (1 + beta^2) * precision * recall / (beta^2 * precision + recall)   (0 if p + r = 0)

and the final score is ``sum(weight * F_beta) / sum(weights)`` over the six types (weights
1, 0, 2, 1, 2, 1, sum 7): a type with no truth point contributes 0. Picks in experiments absent
from the solution are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

CZII_COLUMNS: tuple[str, ...] = ("experiment", "particle_type", "x", "y", "z")


class CziiParticle(NamedTuple):
    """One particle class of the CZII competition.

    Attributes
    ----------
    name : str
        ``particle_type`` label as written in the CSV files.
    radius_A : float
        Particle radius in Angstrom.
    weight : int
        Weight of the class in the final score.
    """

    name: str
    radius_A: float
    weight: int


#: The six classes of the competition; ``pandas.DataFrame(CZII_PARTICLES)`` gives a table.
CZII_PARTICLES: tuple[CziiParticle, ...] = (
    CziiParticle("apo-ferritin", 60.0, 1),
    CziiParticle("beta-amylase", 65.0, 0),
    CziiParticle("beta-galactosidase", 90.0, 2),
    CziiParticle("ribosome", 150.0, 1),
    CziiParticle("thyroglobulin", 130.0, 2),
    CziiParticle("virus-like-particle", 135.0, 1),
)


def _check_particles(particles: Any) -> tuple[CziiParticle, ...]:
    out = []
    for p in particles:
        try:
            part = CziiParticle(*p) if not isinstance(p, CziiParticle) else p
            radius, weight = float(part.radius_A), float(part.weight)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"particles entry {p!r} is invalid: expected CziiParticle(name, radius_A, weight)."
            ) from err
        if not (radius > 0 and np.isfinite(radius) and weight >= 0):
            raise ValueError(
                f"particles entry {p!r}: radius_A must be > 0 and weight >= 0 (Angstrom, count)."
            )
        out.append(CziiParticle(str(part.name), radius, part.weight))
    names = [p.name for p in out]
    if not out or len(set(names)) != len(names) or sum(p.weight for p in out) <= 0:
        raise ValueError(
            f"particles={names} is invalid: expected unique names and a positive total weight."
        )
    return tuple(out)


def _check_frame(df: Any, name: str, particles: Sequence[CziiParticle]) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"{name} is a {type(df).__name__}: expected a pandas.DataFrame with columns "
            f"{list(CZII_COLUMNS)} (e.g. pandas.read_csv of a CZII submission file)."
        )
    missing = [c for c in CZII_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"{name} is missing columns {missing}: expected {list(CZII_COLUMNS)} "
            f"(found {list(df.columns)}). Coordinates x, y, z are in Angstrom."
        )
    out = df.loc[:, list(CZII_COLUMNS)].copy()
    out["experiment"] = out["experiment"].astype(str)
    out["particle_type"] = out["particle_type"].astype(str)
    try:
        xyz = out[["x", "y", "z"]].to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} has non-numeric x, y or z values: {err}") from err
    if not np.isfinite(xyz).all():
        raise ValueError(f"{name} has NaN or infinite x, y or z values: drop those rows first.")
    out[["x", "y", "z"]] = xyz
    known = {p.name for p in particles}
    unknown = sorted(set(out["particle_type"]) - known)
    if unknown:
        raise ValueError(
            f"{name} has unknown particle_type values {unknown}: expected one of "
            f"{sorted(known)}. Rename or drop those rows."
        )
    return out


def _check_positive(value: Any, name: str, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < float(value) < np.inf:
        raise ValueError(f"{name}={value!r} is invalid: expected a finite number > 0 ({hint}).")


def _counts(reference: np.ndarray, picks: np.ndarray, radius: float) -> tuple[int, int, int]:
    if len(reference) == 0:
        return 0, len(picks), 0
    if len(picks) == 0:
        return 0, 0, len(reference)
    hits = cKDTree(reference).query_ball_point(picks, r=radius)
    hit = set()
    for h in hits:
        hit.update(h)
    tp = len(hit)
    return tp, len(picks) - tp, len(reference) - tp


def fbeta(tp: int, fp: int, fn: int, beta: float) -> tuple[float, float, float]:
    """Precision, recall and F-beta from counts, with the competition's conventions.

    Parameters
    ----------
    tp, fp, fn : int
        Summed counts (``fp`` may be negative).
    beta : float
        Weight of recall relative to precision.

    Returns
    -------
    tuple of float
        ``(precision, recall, f_beta)``; each 0 when undefined.
    """
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    b2 = beta**2
    f = (
        (1 + b2) * (precision * recall) / (b2 * precision + recall)
        if precision + recall > 0
        else 0.0
    )
    return float(precision), float(recall), float(f)


def czii_score(
    solution: pd.DataFrame,
    submission: pd.DataFrame,
    *,
    beta: float = 4,
    distance_multiplier: float = 0.5,
    particles: Sequence[CziiParticle] | None = None,
) -> tuple[float, pd.DataFrame]:
    """Score CZII picks exactly as the CryoET Object Identification competition does.

    Parameters
    ----------
    solution, submission : pandas.DataFrame
        Columns ``experiment, particle_type, x, y, z`` (Angstrom); other columns are ignored.
    beta : float
        F-beta parameter (4 in the competition: recall weighs 16 times more than precision).
    distance_multiplier : float
        A pick hits a truth point within ``radius_A * distance_multiplier`` (inclusive).
    particles : sequence of CziiParticle, optional
        Classes (name, radius in Angstrom, weight) to score; default the competition's six
        (:data:`CZII_PARTICLES`). Pass your own to score other datasets the same way.

    Returns
    -------
    score : float
        ``sum(weight * F_beta) / sum(weight)`` over the classes.
    per_class : pandas.DataFrame
        One row per class of ``particles``: ``particle_type, radius_A, weight,
        n_truth, n_pred, tp, fp, fn, precision, recall, fbeta``.

    Raises
    ------
    ValueError
        On missing columns, non-finite coordinates, an unknown ``particle_type`` in either
        frame, or duplicated truth rows (same experiment and x, y, z).

    Examples
    --------
    >>> import pandas as pd
    >>> sol = pd.DataFrame({"experiment": ["TS_1"], "particle_type": ["ribosome"],
    ...                     "x": [1000.0], "y": [1000.0], "z": [500.0]})
    >>> score, table = czii_score(sol, sol)
    >>> round(score, 6)   # F=1 for the ribosome, weight 1 of 7
    0.142857
    """
    particles = _check_particles(CZII_PARTICLES if particles is None else particles)
    _check_positive(beta, "beta", "competition: 4")
    _check_positive(distance_multiplier, "distance_multiplier", "competition: 0.5")
    sol = _check_frame(solution, "solution", particles)
    sub = _check_frame(submission, "submission", particles)
    dup = sol.duplicated(subset=["experiment", "x", "y", "z"])
    if dup.any():
        first = sol.loc[dup].iloc[0]
        raise ValueError(
            f"solution has {int(dup.sum())} duplicated rows (same experiment, x, y, z), e.g. "
            f"experiment={first['experiment']!r} at x={first['x']}, y={first['y']}, "
            f"z={first['z']}: drop them with solution.drop_duplicates(['experiment','x','y','z'])."
        )
    experiments = sorted(set(sol["experiment"]))
    sub = sub.loc[sub["experiment"].isin(experiments)]
    sol_groups = {
        k: g[["x", "y", "z"]].to_numpy() for k, g in sol.groupby(["experiment", "particle_type"])
    }
    sub_groups = {
        k: g[["x", "y", "z"]].to_numpy() for k, g in sub.groupby(["experiment", "particle_type"])
    }
    empty = np.zeros((0, 3))
    rows = []
    for particle in particles:
        totals = np.zeros(3, dtype=np.int64)
        n_truth = n_pred = 0
        for exp in experiments:
            ref = sol_groups.get((exp, particle.name), empty)
            picks = sub_groups.get((exp, particle.name), empty)
            n_truth += len(ref)
            n_pred += len(picks)
            totals += _counts(ref, picks, particle.radius_A * distance_multiplier)
        tp, fp, fn = (int(v) for v in totals)
        precision, recall, f = fbeta(tp, fp, fn, float(beta))
        rows.append(
            {
                "particle_type": particle.name,
                "radius_A": particle.radius_A,
                "weight": particle.weight,
                "n_truth": n_truth,
                "n_pred": n_pred,
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "precision": precision,
                "recall": recall,
                "fbeta": f,
            }
        )
    table = pd.DataFrame(rows)
    # Accumulate in the competition's order (solution classes by first appearance) so that the
    # float result is bit-identical; classes absent from the solution contribute 0.
    f_by_name = dict(zip(table["particle_type"], table["fbeta"].astype(float), strict=True))
    w_by_name = {p.name: p.weight for p in particles}
    aggregate = 0.0
    for name in pd.unique(sol["particle_type"]):
        aggregate += f_by_name[name] * w_by_name[name]
    score = aggregate / sum(p.weight for p in particles)
    return float(score), table
