"""Hand-computed cases for the clean metric (matching, PR curve, AP, borders)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from voxpick.metrics import (
    average_precision,
    evaluate,
    interpolated_ap,
    match_points,
    pr_curve,
)


def line(*xs: float) -> np.ndarray:
    """Points on the x axis, (z, y) = (0, 0)."""
    return np.array([[0.0, 0.0, x] for x in xs]).reshape(-1, 3)


# --- matching -------------------------------------------------------------------------------


def test_match_counts_and_distances():
    res = match_points(line(0, 10), line(1, 9.5, 30), max_distance=2)
    assert (res.tp, res.fp, res.fn) == (2, 1, 0)
    order = np.argsort(res.truth_index)
    assert res.truth_index[order].tolist() == [0, 1]
    assert res.pred_index[order].tolist() == [0, 1]
    assert res.distance[order].tolist() == [1.0, 0.5]
    assert res.mean_error == pytest.approx(0.75)
    assert res.precision == pytest.approx(2 / 3)
    assert res.recall == 1.0
    assert res.f1 == pytest.approx(0.8)


def test_boundary_distance_is_inclusive():
    assert match_points(line(0), line(5), max_distance=5).tp == 1
    assert match_points(line(0), line(5.000001), max_distance=5).tp == 0
    assert match_points(line(3), line(3), max_distance=0).tp == 1


def test_anisotropic_voxel_size():
    truth = np.array([[0.0, 0, 0]])
    along_z = np.array([[2.0, 0, 0]])  # 2 voxels * 2.5 = 5 physical units
    along_x = np.array([[0.0, 0, 2]])  # 2 voxels * 1 = 2
    vs = (2.5, 1, 1)
    assert match_points(truth, along_z, max_distance=5, voxel_size=vs).tp == 1
    assert match_points(truth, along_z, max_distance=4.9, voxel_size=vs).tp == 0
    res = match_points(truth, along_x, max_distance=2, voxel_size=vs)
    assert res.distance.tolist() == [2.0]


def test_duplicates_match_once():
    two_preds = match_points(line(0), line(0.5, 0.5), max_distance=1)
    assert (two_preds.tp, two_preds.fp, two_preds.fn) == (1, 1, 0)
    two_truths = match_points(line(4, 4), line(4), max_distance=1)
    assert (two_truths.tp, two_truths.fp, two_truths.fn) == (1, 0, 1)


def test_hungarian_beats_greedy_on_a_chain():
    # P0 is closest to T1, so greedy-by-distance pairs them and leaves P1 without partner;
    # the maximum matching pairs P0-T0 and P1-T1.
    truth, pred = line(0, 2), line(1.1, 3)
    hung = match_points(truth, pred, max_distance=1.5)
    greedy = match_points(truth, pred, max_distance=1.5, method="greedy")
    assert hung.tp == 2
    assert sorted(hung.distance.round(9).tolist()) == [1.0, 1.1]
    assert greedy.tp == 1
    assert greedy.distance.round(9).tolist() == [0.9]


def test_hungarian_minimises_total_distance():
    res = match_points(line(0, 1), line(0.1, 1.2), max_distance=2)
    order = np.argsort(res.truth_index)
    assert res.pred_index[order].tolist() == [0, 1]
    assert res.distance.sum() == pytest.approx(0.3)


def test_greedy_follows_score_hungarian_follows_distance():
    pred = pd.DataFrame({"z": [0.0, 0], "y": [0.0, 0], "x": [0.5, 1.0], "score": [0.2, 0.9]})
    greedy = match_points(line(0), pred, max_distance=2, method="greedy")
    hung = match_points(line(0), pred, max_distance=2)
    assert greedy.pred_index.tolist() == [1]
    assert hung.pred_index.tolist() == [0]


def test_hungarian_is_maximum_on_random_points():
    rng = np.random.default_rng(1)
    truth = rng.uniform(0, 20, (120, 3))
    pred = np.vstack([truth[:90] + rng.normal(0, 1.0, (90, 3)), rng.uniform(0, 20, (40, 3))])
    res = match_points(truth, pred, max_distance=1.5)
    d = np.linalg.norm(truth[:, None] - pred[None], axis=2)
    best = maximum_bipartite_matching(csr_matrix(d <= 1.5), perm_type="column")
    assert res.tp == int((best >= 0).sum())
    assert np.all(res.distance <= 1.5)
    assert len(set(res.truth_index)) == len(set(res.pred_index)) == res.tp
    assert res.tp >= match_points(truth, pred, max_distance=1.5, method="greedy").tp


def test_empty_sets():
    no_pred = match_points(line(0, 1), np.zeros((0, 3)), max_distance=1)
    assert (no_pred.tp, no_pred.fp, no_pred.fn) == (0, 0, 2)
    assert (no_pred.precision, no_pred.recall, no_pred.f1) == (0.0, 0.0, 0.0)
    assert math.isnan(no_pred.mean_error)
    no_truth = evaluate(np.zeros((0, 3)), line(0, 1), diameter=2)
    assert (no_truth.tp, no_truth.fp, no_truth.fn) == (0, 2, 0)
    assert math.isnan(no_truth.ap)
    nothing = evaluate([], [], diameter=2)
    assert (nothing.n_truth, nothing.n_pred, nothing.precision, nothing.f1) == (0, 0, 0.0, 0.0)
    assert pr_curve(line(0), [], diameter=2).empty


# --- evaluate, PR curve, AP -------------------------------------------------------------------

TRUTH = line(0, 10, 20, 30)
PRED = pd.DataFrame(
    {
        "z": 0.0,
        "y": 0.0,
        "x": [0.0, 10.5, 50.0, 20.75, 100.0],
        "score": [0.9, 0.8, 0.7, 0.6, 0.5],
    }
)


def test_pr_curve_by_hand():
    curve = pr_curve(TRUTH, PRED, diameter=2)  # match within 1
    assert curve["score_threshold"].tolist() == [0.9, 0.8, 0.7, 0.6, 0.5]
    assert curve["tp"].tolist() == [1, 2, 2, 3, 3]
    assert curve["fp"].tolist() == [0, 0, 1, 1, 2]
    assert curve["precision"].tolist() == pytest.approx([1, 1, 2 / 3, 0.75, 0.6])
    assert curve["recall"].tolist() == pytest.approx([0.25, 0.5, 0.5, 0.75, 0.75])


def test_ap_101_point_by_hand():
    # Envelope: 1 up to recall 0.5 (levels k=0..50), 0.75 up to 0.75 (k=51..75), then 0.
    at_1 = (51 + 25 * 0.75) / 101
    assert average_precision(TRUTH, PRED, diameter=2, fractions=[0.5]) == pytest.approx(at_1)
    # Within 0.5 only x=0 and x=10.5 (exactly 0.5: inclusive) match: precision 1 to recall 0.5.
    at_half = 51 / 101
    assert average_precision(TRUTH, PRED, diameter=2, fractions=[0.25]) == pytest.approx(at_half)
    both = average_precision(TRUTH, PRED, diameter=2, fractions=[0.25, 0.5])
    assert both == pytest.approx((at_1 + at_half) / 2)


def test_evaluate_by_hand():
    ev = evaluate(TRUTH, PRED, diameter=2, ap_fractions=[0.5])
    assert (ev.tp, ev.fp, ev.fn, ev.n_truth, ev.n_pred) == (3, 2, 1, 4, 5)
    assert ev.precision == pytest.approx(0.6)
    assert ev.recall == pytest.approx(0.75)
    assert ev.f1 == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert ev.mean_error == pytest.approx((0 + 0.5 + 0.75) / 3)
    assert ev.max_distance == 1.0
    assert ev.ap == pytest.approx((51 + 25 * 0.75) / 101)
    assert ev.as_dict()["tp"] == 3


def test_explicit_max_distance_and_match_fraction():
    assert evaluate(TRUTH, PRED, diameter=2, match_fraction=0.25).tp == 2
    assert evaluate(TRUTH, PRED, diameter=2, max_distance=0.75).tp == 3


def test_tied_scores_give_one_point_and_score_argument_overrides():
    pts = PRED[["z", "y", "x"]]
    curve = pr_curve(TRUTH, pts, diameter=2)
    assert len(curve) == 1
    assert curve[["tp", "fp"]].iloc[0].tolist() == [3, 2]
    reversed_scores = pr_curve(TRUTH, PRED, diameter=2, score=[0.1, 0.2, 0.3, 0.4, 0.5])
    assert reversed_scores["tp"].tolist() == [0, 1, 1, 2, 3]


def test_interpolated_ap_single_point():
    assert interpolated_ap([0.5], [0.5]) == pytest.approx(51 * 0.5 / 101)
    assert interpolated_ap([], []) == 0.0


def test_mean_error_is_physical():
    ev = evaluate([[0, 0, 0]], [[1, 0, 0]], diameter=10, voxel_size=(3, 1, 1))
    assert ev.mean_error == pytest.approx(3.0)


# --- border ---------------------------------------------------------------------------------


def test_border_ignores_straddling_pairs():
    truth = np.array([[10, 10, 1.0], [10, 10, 10], [10, 10, 15.5]])
    pred = np.array([[10, 10, 3.5], [10, 10, 17.5], [10, 10, 17.0], [5, 5, 5]])
    full = evaluate(truth, pred, diameter=6)  # match within 3
    assert (full.tp, full.fp, full.fn) == (2, 2, 1)
    # Canvas 20 -> faces at 0 and 19; border 3 keeps coordinates in [3, 16].
    # Truth x=1 is out: its pair with pred x=3.5 is ignored (no FP). Pred x=17 is out but its
    # truth x=15.5 is in: TP. Pred x=17.5 unmatched and out: ignored. Pred (5,5,5): FP.
    ev = evaluate(truth, pred, diameter=6, border=3, canvas_size=20)
    assert (ev.tp, ev.fp, ev.fn, ev.n_truth, ev.n_pred) == (1, 1, 1, 2, 2)
    assert ev.mean_error == pytest.approx(1.5)


def test_border_edges_are_inclusive_and_need_canvas():
    truth = np.array([[3.0, 3, 3], [16, 16, 16], [2.9, 10, 10]])
    ev = evaluate(truth, truth, diameter=2, border=3, canvas_size=(20, 20, 20))
    assert ev.n_truth == 2
    with pytest.raises(ValueError, match="canvas_size"):
        evaluate(truth, truth, diameter=2, border=3)


# --- input errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"diameter": 0}, "diameter"),
        ({"diameter": 2, "max_distance": -1}, "max_distance"),
        ({"diameter": 2, "method": "nearest"}, "method"),
        ({"diameter": 2, "voxel_size": (1, 1)}, "voxel_size"),
        ({"diameter": 2, "score": [1.0]}, "score"),
        ({"diameter": 2, "ap_fractions": []}, "fractions"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        evaluate(line(0, 1), line(0, 1), **kwargs)


def test_bad_positions():
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        match_points(np.zeros((2, 2)), line(0), max_distance=1)
    with pytest.raises(ValueError, match="NaN"):
        match_points(line(np.nan), line(0), max_distance=1)
    with pytest.raises(ValueError, match="missing columns"):
        evaluate(pd.DataFrame({"x": [1.0]}), line(0), diameter=2)
    with pytest.raises(ValueError, match="diameter"):
        pr_curve(line(0), line(0))


def test_pr_curve_with_border_skips_ignored_predictions():
    truth = np.array([[10, 10, 1.0], [10, 10, 10], [10, 10, 15.5]])
    pred = np.array([[10, 10, 3.5], [10, 10, 17.5], [10, 10, 17.0], [5, 5, 5]])
    score = [0.9, 0.8, 0.7, 0.6]
    # Greedy by score within 3: 0.9 takes the outside truth (ignored); 0.8 (outside) takes the
    # inside truth x=15.5 (TP); 0.7 is left unmatched and outside (ignored); 0.6 is an FP.
    curve = pr_curve(truth, pred, diameter=6, border=3, canvas_size=20, score=score)
    assert curve["tp"].tolist() == [0, 1, 1, 1]
    assert curve["fp"].tolist() == [0, 0, 0, 1]
    assert curve["precision"].tolist() == [0.0, 1.0, 1.0, 0.5]
    assert curve["recall"].tolist() == [0.0, 0.5, 0.5, 0.5]
