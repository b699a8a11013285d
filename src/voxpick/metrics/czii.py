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


def _hits(reference: np.ndarray, picks: np.ndarray, radius: float) -> tuple[Any, Any]:
    """Return which picks hit a reference point, and which reference points are hit."""
    pick_hit = np.zeros(len(picks), dtype=bool)
    ref_hit = np.zeros(len(reference), dtype=bool)
    if len(reference) and len(picks):
        for i, h in enumerate(cKDTree(reference).query_ball_point(picks, r=radius)):
            if h:
                pick_hit[i] = True
                ref_hit[h] = True
    return pick_hit, ref_hit


def _counts(reference: np.ndarray, picks: np.ndarray, radius: float) -> tuple[int, int, int]:
    tp = int(_hits(reference, picks, radius)[1].sum())
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


def czii_outcomes(
    solution: pd.DataFrame,
    submission: pd.DataFrame,
    *,
    distance_multiplier: float = 0.5,
    particles: Sequence[CziiParticle] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Label every pick and every truth particle with its CZII outcome (the failure analysis).

    The hit rule is :func:`czii_score`'s: a pick hits a truth particle of its own type and
    experiment within ``radius_A * distance_multiplier`` of it. The ``found`` particles of a
    type are that function's ``tp``, the others its ``fn``; its ``fp`` is the number of picks
    minus ``tp``, which also counts a second pick on an already found particle (such a pick is
    labelled ``hit`` here).

    Parameters
    ----------
    solution, submission : pandas.DataFrame
        Columns ``experiment, particle_type, x, y, z`` (Angstrom); other columns are kept.
    distance_multiplier : float
        As for :func:`czii_score` (0.5 in the competition).
    particles : sequence of CziiParticle, optional
        Classes and radii; default :data:`CZII_PARTICLES`.

    Returns
    -------
    picks : pandas.DataFrame
        The submission's rows in experiments of the solution (others are ignored, as by the
        score), plus ``hit`` (bool) and ``truth_type``: for a pick that hits nothing, the type
        of a truth particle of *another* class whose zone it falls in (its own radius times
        ``distance_multiplier``; the nearest if several), else ``""`` (nothing there).
    truth : pandas.DataFrame
        The solution's rows plus ``found`` (bool) and ``picked_as``: for a missed particle, the
        type of the nearest pick of another class within its zone, else ``""`` (not picked).
    """
    particles = _check_particles(CZII_PARTICLES if particles is None else particles)
    _check_positive(distance_multiplier, "distance_multiplier", "competition: 0.5")
    sol = _check_frame(solution, "solution", particles)
    sub = _check_frame(submission, "submission", particles)
    keep = sub["experiment"].isin(set(sol["experiment"])).to_numpy()
    picks = submission.loc[keep].reset_index(drop=True).copy()
    truth = solution.reset_index(drop=True).copy()
    sub, sol = sub.loc[keep].reset_index(drop=True), sol.reset_index(drop=True)
    hit = np.zeros(len(sub), dtype=bool)
    found = np.zeros(len(sol), dtype=bool)
    truth_type = np.full(len(sub), "", dtype=object)
    picked_as = np.full(len(sol), "", dtype=object)
    zone = {p.name: p.radius_A * float(distance_multiplier) for p in particles}
    for exp in pd.unique(sol["experiment"]):
        s_idx = np.flatnonzero((sol["experiment"] == exp).to_numpy())
        p_idx = np.flatnonzero((sub["experiment"] == exp).to_numpy())
        s_xyz, p_xyz = (
            sol.loc[s_idx, ["x", "y", "z"]].to_numpy(),
            sub.loc[p_idx, ["x", "y", "z"]].to_numpy(),
        )
        s_type, p_type = (
            sol.loc[s_idx, "particle_type"].to_numpy(),
            sub.loc[p_idx, "particle_type"].to_numpy(),
        )
        for name, radius in zone.items():
            ref, own = s_type == name, p_type == name
            pick_hit, ref_hit = _hits(s_xyz[ref], p_xyz[own], radius)
            hit[p_idx[own]] = pick_hit
            found[s_idx[ref]] = ref_hit
        if len(p_idx) and len(s_idx):
            reach = max(zone.values())
            s_zone = np.array([zone[t] for t in s_type])
            s_tree, p_tree = cKDTree(s_xyz), cKDTree(p_xyz)
            for i in np.flatnonzero(~hit[p_idx]):  # a false pick on a particle of another class?
                js = np.array(s_tree.query_ball_point(p_xyz[i], r=reach), dtype=int)
                d = np.linalg.norm(s_xyz[js] - p_xyz[i], axis=1)
                ok = (s_type[js] != p_type[i]) & (d <= s_zone[js])
                if ok.any():
                    truth_type[p_idx[i]] = s_type[js[ok][np.argmin(d[ok])]]
            for i in np.flatnonzero(~found[s_idx]):  # a missed particle picked as another class?
                js = np.array(p_tree.query_ball_point(s_xyz[i], r=s_zone[i]), dtype=int)
                ok = p_type[js] != s_type[i]
                if ok.any():
                    d = np.linalg.norm(p_xyz[js[ok]] - s_xyz[i], axis=1)
                    picked_as[s_idx[i]] = p_type[js[ok][np.argmin(d)]]
    picks["hit"], picks["truth_type"] = hit, truth_type
    truth["found"], truth["picked_as"] = found, picked_as
    return picks, truth
