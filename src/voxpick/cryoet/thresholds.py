"""Per-class pick thresholds that maximise F-beta, chosen on labelled validation tomograms.

Two rules (:func:`choose_thresholds`, ``rule=``):

``"calibrated"`` (default)
    Fit a calibration ``P(hit | score) = sigmoid(a + b * logit(score))`` to every validation
    candidate (hit or not), with a prior that pulls it towards "the scores are probabilities"
    (``a = 0, b = 1``), and keep a candidate when its calibrated probability exceeds
    ``F* / (1 + beta^2)``, where ``F*`` is the best F-beta reached on the validation data.
    That cut is the F-beta optimal decision rule for calibrated probabilities (Lipton, Elkan
    and Narayanaswamy, "Optimal thresholding of classifiers to maximize F1 measure", ECML
    PKDD 2014: the F1 case is ``F*/2``). It uses every candidate, not only the few lowest
    scoring hits, so it is steady on small validation sets.
``"argmax"``
    The threshold at which F-beta on the validation candidates is highest, midway to the next
    lower score. Exact on the validation data, but with a few dozen particles its position
    is set by the lowest scoring hit, and a recall-weighted metric punishes the too-high cuts
    that this gives by chance.

How each carries over to held-out tomograms is measured in ``docs/cryoet.md`` ("Per-class
thresholds").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.spatial import cKDTree
from scipy.special import expit, logit

from voxpick.metrics.czii import fbeta

#: Classes with fewer validation particles than this share one pooled threshold by default.
MIN_TRUTH_PER_CLASS = 10

#: Threshold rules :func:`choose_thresholds` knows.
RULES = ("calibrated", "argmax")

#: Weight of the "scores are probabilities" prior of the calibration fit, in units of the
#: log-likelihood of one candidate (chosen on synthetic tomograms, never on a reported set).
CALIBRATION_PRIOR = 5.0

#: One candidate: its score and the truth points it hits, as (class, experiment, index) keys.
_Event = tuple[float, list[tuple[str, str, int]]]


def _hits(truth: np.ndarray, picks: np.ndarray, radius: float) -> list[list[int]]:
    if len(truth) == 0 or len(picks) == 0:
        return [[] for _ in range(len(picks))]
    return list(cKDTree(truth).query_ball_point(picks, r=radius))


def _class_events(cand: pd.DataFrame, ref: pd.DataFrame, name: str, radius: float) -> list[_Event]:
    events: list[_Event] = []
    for exp, group in cand.groupby("experiment"):
        t = ref.loc[ref["experiment"] == exp, ["z", "y", "x"]].to_numpy(float)
        hits = _hits(t, group[["z", "y", "x"]].to_numpy(float), radius)
        keys = [[(name, str(exp), j) for j in h] for h in hits]
        events += [(float(sc), k) for sc, k in zip(group["score"], keys, strict=True)]
    return events


def _best_cut(events: list[_Event], n_truth: int, beta: float) -> tuple[float, float]:
    """Threshold maximising F-beta over ``events`` (midway to the next lower score), and F."""
    events = sorted(events, key=lambda e: -e[0])
    best_f, cut = -1.0, 1.0
    seen: set[tuple[str, str, int]] = set()
    for i, (score, hit) in enumerate(events):
        seen.update(hit)
        if i + 1 < len(events) and events[i + 1][0] == score:
            continue  # a threshold keeps all tied scores
        tp = len(seen)
        _, _, f = fbeta(tp, i + 1 - tp, n_truth - tp, float(beta))
        if f > best_f:  # midway: the widest margin that keeps the same picks on this data
            best_f = f
            cut = 0.5 * (score + events[i + 1][0]) if i + 1 < len(events) else score
    return cut, max(best_f, 0.0)


def _logit(p: np.ndarray | float) -> np.ndarray:
    return np.asarray(logit(np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)))


def fit_calibration(
    scores: np.ndarray, hit: np.ndarray, *, prior: float = CALIBRATION_PRIOR
) -> tuple[float, float]:
    """Fit ``P(hit | score) = sigmoid(a + b * logit(score))`` (Platt scaling with a prior).

    Parameters
    ----------
    scores : numpy.ndarray
        Candidate scores in (0, 1).
    hit : numpy.ndarray of bool
        Whether each candidate hit a truth point.
    prior : float
        Strength of the Gaussian prior ``prior * (a^2 + (b - 1)^2)`` towards the identity
        (scores already calibrated); 0 is plain maximum likelihood.

    Returns
    -------
    tuple of float
        ``(a, b)``.
    """
    x = _logit(scores)
    y = np.asarray(hit, dtype=float)

    def loss(p: np.ndarray) -> tuple[float, np.ndarray]:
        z = p[0] + p[1] * x
        resid = expit(z) - y
        value = float(np.sum(np.logaddexp(0, z) - y * z))
        value += prior * (p[0] ** 2 + (p[1] - 1) ** 2)
        grad = np.array(
            [resid.sum() + 2 * prior * p[0], (resid * x).sum() + 2 * prior * (p[1] - 1)]
        )
        return value, grad

    res = minimize(loss, np.array([0.0, 1.0]), jac=True, method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def _calibrated_cut(
    events: list[_Event], n_truth: int, beta: float, *, prior: float = CALIBRATION_PRIOR
) -> float:
    """Score whose calibrated hit probability is ``F* / (1 + beta^2)``."""
    argmax_cut, best_f = _best_cut(events, n_truth, beta)
    if best_f <= 0 or not events:
        return argmax_cut  # nothing hit: no calibration to fit
    scores = np.array([e[0] for e in events])
    hit = np.array([bool(e[1]) for e in events])
    a, b = fit_calibration(scores, hit, prior=prior)
    target = best_f / (1 + beta**2)
    if b <= 0.05:  # scores carry no information about hits: the identity is all we have
        return float(target)
    return float(expit((_logit(target) - a) / b))


def choose_thresholds(
    picks: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    radii_A: Mapping[str, float],
    beta: float = 4.0,
    distance_multiplier: float = 0.5,
    min_truth: int = MIN_TRUTH_PER_CLASS,
    rule: str = "calibrated",
    prior: float = CALIBRATION_PRIOR,
) -> pd.DataFrame:
    """Per-class score threshold maximising F-beta on labelled data (CZII's counting rule).

    Parameters
    ----------
    picks : pandas.DataFrame
        Candidates from :func:`voxpick.cryoet.pick` with ``thresholds=0``:
        ``experiment, particle_type, z, y, x`` (Angstrom) and ``score``.
    truth : pandas.DataFrame
        ``experiment, particle_type, z, y, x`` (Angstrom).
    radii_A : mapping
        Radius of every class to choose for (Angstrom).
    beta : float
        F-beta parameter (4 for CZII).
    distance_multiplier : float
        A pick hits a truth point within ``radius * distance_multiplier``.
    min_truth : int
        A class with fewer validation particles than this does not get a threshold of its
        own, which a handful of particles would overfit: all such classes share one, chosen
        on their candidates pooled (summed true and false positives). A class absent from
        the validation data always joins the pool (its candidates count as false positives).
        ``0`` or ``1`` chooses every other class on its own.
    rule : {"calibrated", "argmax"}
        ``"calibrated"``: keep a candidate when its calibrated hit probability exceeds
        ``F*/(1 + beta^2)`` (steady with few validation particles); ``"argmax"``: the cut
        with the best F-beta on the validation data itself. See the module notes.
    prior : float
        Strength of the calibration's pull towards "scores are probabilities" (``rule=
        "calibrated"`` only).

    Returns
    -------
    pandas.DataFrame
        One row per class: ``particle_type, threshold, tp, fp, fn, precision, recall, fbeta,
        pooled, rule``, the counts at the chosen threshold on the validation data. When no
        pooled class has a validation particle, their threshold is 1 (pick nothing).
    """
    if not isinstance(min_truth, int | np.integer) or min_truth < 0:
        raise ValueError(f"min_truth={min_truth!r} must be a non-negative int, e.g. 10.")
    if rule not in RULES:
        raise ValueError(f"rule={rule!r} is unknown: expected one of {RULES}.")
    if not (np.isfinite(prior) and prior >= 0):
        raise ValueError(f"prior={prior!r} must be a non-negative number, e.g. 5.")

    def cut_of(ev: list[_Event], n: int) -> float:
        if rule == "argmax":
            return _best_cut(ev, n, beta)[0]
        return _calibrated_cut(ev, n, beta, prior=prior)

    events: dict[str, list[_Event]] = {}
    n_truth: dict[str, int] = {}
    for name, radius in radii_A.items():
        ref = truth.loc[truth["particle_type"] == name]
        cand = picks.loc[picks["particle_type"] == name]
        events[name] = _class_events(cand, ref, name, radius * distance_multiplier)
        n_truth[name] = len(ref)
    few = [n for n in radii_A if n_truth[n] < max(min_truth, 1)]
    n_few = sum(n_truth[n] for n in few)
    pooled_cut = cut_of([e for n in few for e in events[n]], n_few) if n_few else 1.0
    rows = []
    for name in radii_A:
        cut = pooled_cut if name in few else cut_of(events[name], n_truth[name])
        kept = [e for e in events[name] if e[0] >= cut]
        tp = len({k for e in kept for k in e[1]})
        fp, fn = len(kept) - tp, n_truth[name] - tp
        p, r, f = fbeta(tp, fp, fn, float(beta))
        rows.append({
            "particle_type": name, "threshold": cut, "tp": tp, "fp": fp, "fn": fn,
            "precision": p, "recall": r, "fbeta": f if n_truth[name] else 0.0,
            "pooled": name in few, "rule": rule,
        })  # fmt: skip
    return pd.DataFrame(rows)
