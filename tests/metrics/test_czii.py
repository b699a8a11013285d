"""Hand-computed cases for the CZII competition F-beta."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

from voxpick.metrics import CZII_PARTICLES, czii_score


def frame(rows):
    """Rows of (experiment, particle_type, x, y, z)."""
    return pd.DataFrame(rows, columns=["experiment", "particle_type", "x", "y", "z"])


def f_beta(p, r, beta=4):
    return (1 + beta**2) * p * r / (beta**2 * p + r)


def row(table, name):
    return table.set_index("particle_type").loc[name]


def test_particle_table():
    assert [p.name for p in CZII_PARTICLES] == [
        "apo-ferritin",
        "beta-amylase",
        "beta-galactosidase",
        "ribosome",
        "thyroglobulin",
        "virus-like-particle",
    ]
    assert [p.radius_A for p in CZII_PARTICLES] == [60, 65, 90, 150, 130, 135]
    assert [p.weight for p in CZII_PARTICLES] == [1, 0, 2, 1, 2, 1]
    assert pd.DataFrame(CZII_PARTICLES).columns.tolist() == ["name", "radius_A", "weight"]


def test_perfect_submission_scores_one():
    sol = frame([("TS_1", p.name, 1000.0 * i, 500.0, 300.0) for i, p in enumerate(CZII_PARTICLES)])
    score, table = czii_score(sol, sol)
    assert score == pytest.approx(1.0)
    assert table["fbeta"].tolist() == [1.0] * 6


def test_one_pick_covering_two_truths_gives_negative_fp():
    # Ribosome radius 150 * 0.5 = 75 A; the pick is 50 A from both truths.
    sol = frame([("TS_1", "ribosome", 1000.0, 0, 0), ("TS_1", "ribosome", 1100.0, 0, 0)])
    sub = frame([("TS_1", "ribosome", 1050.0, 0, 0)])
    score, table = czii_score(sol, sub)
    r = row(table, "ribosome")
    assert (r["tp"], r["fp"], r["fn"]) == (2, -1, 0)
    assert r["precision"] == 2.0  # tp / (tp + fp) = 2 / 1
    assert r["recall"] == 1.0
    assert r["fbeta"] == pytest.approx(34 / 33)  # 17 * 2 / (16 * 2 + 1)
    assert score == pytest.approx(34 / 33 / 7)


def test_pick_exactly_at_radius_counts():
    # Apo-ferritin radius 60 * 0.5 = 30 A.
    sol = frame([("TS_1", "apo-ferritin", 100.0, 100, 100)])
    on_sphere = frame([("TS_1", "apo-ferritin", 130.0, 100, 100)])
    beyond = frame([("TS_1", "apo-ferritin", 130.001, 100, 100)])
    assert row(czii_score(sol, on_sphere)[1], "apo-ferritin")["tp"] == 1
    _, table = czii_score(sol, beyond)
    assert row(table, "apo-ferritin")[["tp", "fp", "fn"]].tolist() == [0, 1, 1]


def test_counts_are_summed_over_experiments_before_fbeta():
    # Thyroglobulin (radius 65 A, weight 2). TS_1: 1 truth found. TS_2: 3 truths missed, 1 FP.
    sol = frame(
        [("TS_1", "thyroglobulin", 0.0, 0, 0)]
        + [("TS_2", "thyroglobulin", 1000.0 * k, 0, 0) for k in range(1, 4)]
    )
    sub = frame([("TS_1", "thyroglobulin", 10.0, 0, 0), ("TS_2", "thyroglobulin", 0.0, 5000, 0)])
    score, table = czii_score(sol, sub)
    r = row(table, "thyroglobulin")
    assert (r["tp"], r["fp"], r["fn"], r["n_truth"], r["n_pred"]) == (1, 1, 3, 4, 2)
    assert r["fbeta"] == pytest.approx(f_beta(0.5, 0.25))  # = 2.125 / 8.25
    assert score == pytest.approx(2 * 2.125 / 8.25 / 7)


def test_beta_changes_the_weighting():
    sol = frame([("TS_1", "ribosome", 1000.0 * k, 0, 0) for k in range(4)])
    sub = frame([("TS_1", "ribosome", 0.0, 0, 0), ("TS_1", "ribosome", 0.0, 9000, 0)])
    # p = 1/2, r = 1/4
    assert czii_score(sol, sub, beta=1)[0] == pytest.approx(f_beta(0.5, 0.25, 1) / 7)
    assert czii_score(sol, sub)[0] == pytest.approx(f_beta(0.5, 0.25, 4) / 7)


def test_absent_classes_and_zero_weight():
    sol = frame(
        [("TS_1", "beta-amylase", 0.0, 0, 0), ("TS_1", "virus-like-particle", 5000.0, 0, 0)]
    )
    # Perfect beta-amylase (weight 0), nothing for the VLP, stray apo-ferritin picks (a class
    # with no truth).
    sub = frame([("TS_1", "beta-amylase", 0.0, 0, 0), ("TS_1", "apo-ferritin", 9000.0, 0, 0)])
    score, table = czii_score(sol, sub)
    assert score == 0.0
    assert row(table, "beta-amylase")["fbeta"] == 1.0
    assert row(table, "virus-like-particle")[["tp", "fn", "fbeta"]].tolist() == [0, 1, 0.0]
    assert row(table, "apo-ferritin")[["n_truth", "fp", "fbeta"]].tolist() == [0, 1, 0.0]


def test_experiments_missing_from_solution_are_ignored():
    sol = frame([("TS_1", "ribosome", 0.0, 0, 0)])
    sub = frame([("TS_1", "ribosome", 0.0, 0, 0), ("TS_9", "ribosome", 0.0, 0, 0)])
    score, table = czii_score(sol, sub)
    assert row(table, "ribosome")[["n_pred", "fp"]].tolist() == [1, 0]
    assert score == pytest.approx(1 / 7)


def test_empty_submission():
    sol = frame([("TS_1", "ribosome", 0.0, 0, 0)])
    score, table = czii_score(sol, frame([]))
    assert score == 0.0
    assert row(table, "ribosome")["fn"] == 1


def test_experiment_ids_compared_as_text():
    sol = frame([(1, "ribosome", 0.0, 0, 0)])
    sub = frame([("1", "ribosome", 0.0, 0, 0)])
    assert czii_score(sol, sub)[0] == pytest.approx(1 / 7)


def test_matches_brute_force_reference():
    rng = np.random.default_rng(0)
    rows_sol, rows_sub = [], []
    for exp in ("TS_a", "TS_b"):
        for p in CZII_PARTICLES:
            truth = rng.uniform(0, 2000, (12, 3))
            picks = np.vstack(
                [truth[:8] + rng.normal(0, p.radius_A / 3, (8, 3)), rng.uniform(0, 2000, (5, 3))]
            )
            rows_sol += [(exp, p.name, *t) for t in truth]
            rows_sub += [(exp, p.name, *q) for q in picks]
    sol, sub = frame(rows_sol), frame(rows_sub)
    score, table = czii_score(sol, sub)
    expected = 0.0
    for p in CZII_PARTICLES:
        tp = fp = fn = 0
        for exp in ("TS_a", "TS_b"):
            t = sol.loc[(sol.experiment == exp) & (sol.particle_type == p.name), ["x", "y", "z"]]
            q = sub.loc[(sub.experiment == exp) & (sub.particle_type == p.name), ["x", "y", "z"]]
            hit = (cdist(q.to_numpy(), t.to_numpy()) <= p.radius_A * 0.5).any(axis=0).sum()
            tp, fp, fn = tp + hit, fp + len(q) - hit, fn + len(t) - hit
        prec, rec = tp / (tp + fp), tp / (tp + fn)
        f = f_beta(prec, rec) if prec + rec else 0.0
        assert row(table, p.name)[["tp", "fp", "fn"]].tolist() == [tp, fp, fn]
        expected += p.weight * f
    assert score == pytest.approx(expected / 7)
    assert 0 < score < 1


@pytest.mark.parametrize("where", ["solution", "submission"])
def test_unknown_particle_type_is_an_error(where):
    good = frame([("TS_1", "ribosome", 0.0, 0, 0)])
    bad = frame([("TS_1", "ribosme", 0.0, 0, 0)])
    args = (bad, good) if where == "solution" else (good, bad)
    with pytest.raises(
        ValueError, match=rf"{where} has unknown particle_type values \['ribosme'\]"
    ):
        czii_score(*args)


def test_input_errors():
    good = frame([("TS_1", "ribosome", 0.0, 0, 0)])
    with pytest.raises(ValueError, match="missing columns"):
        czii_score(good.drop(columns="z"), good)
    with pytest.raises(ValueError, match="duplicated"):
        czii_score(pd.concat([good, good]), good)
    with pytest.raises(ValueError, match="NaN"):
        czii_score(good, good.assign(x=np.nan))
    with pytest.raises(ValueError, match="beta"):
        czii_score(good, good, beta=0)
    with pytest.raises(TypeError, match="DataFrame"):
        czii_score(good.to_numpy(), good)
