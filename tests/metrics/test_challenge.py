"""Hand-computed cases for the colloid challenge AP (reproduced exactly, quirks included)."""

from __future__ import annotations

import numpy as np
import pytest

from voxpick.metrics import CHALLENGE_THRESHOLDS, challenge_ap, challenge_precision_recall
from voxpick.metrics.challenge import trapezoid


def at(*xs: float, yz: float = 10.0) -> np.ndarray:
    """Points (yz, yz, x)."""
    return np.array([[yz, yz, x] for x in xs], dtype=float).reshape(-1, 3)


def test_thresholds_are_linspace():
    assert CHALLENGE_THRESHOLDS.tolist() == np.linspace(0, 1, 10).tolist()


def test_perfect_prediction():
    pts = at(10, 20, 30)
    ap, precisions, recalls = challenge_ap(pts, pts, diameter=6, canvas_size=64)
    # iou = 1 > t for every threshold but t = 1.
    assert precisions.tolist() == [1.0] * 9 + [0.0]
    assert recalls.tolist() == [0.0] + [1.0] * 9  # reversed
    assert ap == pytest.approx(1.0)


def test_ap_pairs_precision_with_reversed_recall():
    truth = np.array([[10.0, 10, 10], [20, 20, 20], [30, 30, 30]])
    pred = np.array([[10.0, 10, 10], [20, 20, 21], [40, 40, 40]])
    ap, precisions, recalls = challenge_ap(truth, pred, diameter=6, canvas_size=(64, 64, 64))
    # Pred 2 is 1 voxel off: iou = 5/6, above thresholds 0..7/9, not 8/9 or 1.
    assert precisions.tolist() == pytest.approx([2 / 3] * 8 + [1 / 3, 0])
    assert recalls.tolist() == pytest.approx([0, 1 / 3] + [2 / 3] * 8)
    # trapezoid(precisions, x=recalls): (1/3)*(2/3) + (1/3)*(2/3); the rest has dx = 0.
    assert ap == pytest.approx(4 / 9)
    # Pairing each precision with the recall of the same threshold would give -2/9 instead.
    assert trapezoid(precisions, recalls[::-1]) == pytest.approx(-2 / 9)


def test_threshold_is_strict():
    # dist 5, diameter 10 -> iou exactly 0.5.
    truth, pred = at(20), at(25)
    kw = {"diameter": 10, "canvas_size": 64}
    assert challenge_precision_recall(truth, pred, threshold=0.5, **kw) == (0.0, 0.0)
    assert challenge_precision_recall(truth, pred, threshold=0.49, **kw) == (1.0, 1.0)
    # dist == diameter gives iou 0, which is not > 0.
    assert challenge_precision_recall(at(20), at(30), threshold=0, **kw) == (0.0, 0.0)


def test_border_is_inclusive_and_applied_to_both_sets():
    # canvas 20, diameter 4 -> keep [2, 18] on every axis.
    truth = np.array([[2.0, 10, 10], [10, 10, 18], [10, 10, 1.5]])
    pred = np.array([[2.0, 10, 10], [10, 10, 18.5]])
    p, r = challenge_precision_recall(truth, pred, diameter=4, threshold=0, canvas_size=20)
    assert (p, r) == (1.0, 0.5)
    # Pred at 18.5 matched truth at 18 once the canvas is large enough to keep it; the truth
    # at x=1.5 stays outside (1.5 < 2) either way.
    p, r = challenge_precision_recall(truth, pred, diameter=4, threshold=0, canvas_size=40)
    assert (p, r) == (1.0, 1.0)


def test_greedy_by_iou_is_not_optimal():
    # P0 is nearest to T1 (iou 0.6) and takes it; P1 could only use T1 (0.45); T0 (0.4 with P0)
    # is left: 1 match where 2 were possible. The scorer does this, so we do too.
    truth, pred = at(10, 12), at(11.2, 13.1)
    p, r = challenge_precision_recall(truth, pred, diameter=2, threshold=0, canvas_size=30)
    assert (p, r) == (0.5, 0.5)


def test_duplicates():
    p, r = challenge_precision_recall(at(10), at(10, 10.5), diameter=4, threshold=0, canvas_size=20)
    assert (p, r) == (0.5, 1.0)
    p, r = challenge_precision_recall(at(10, 10), at(10), diameter=4, threshold=0, canvas_size=20)
    assert (p, r) == (1.0, 0.5)


def test_empty_sets_give_zero():
    empty = np.zeros((0, 3))
    assert challenge_precision_recall(at(10), empty, diameter=4, threshold=0, canvas_size=20) == (
        0.0,
        0.0,
    )
    ap, p, r = challenge_ap(empty, at(10), diameter=4, canvas_size=20)
    assert (ap, p.tolist(), r.tolist()) == (0.0, [0.0] * 10, [0.0] * 10)
    # Everything outside the border is the same as nothing.
    ap, p, r = challenge_ap(at(1), at(1), diameter=4, canvas_size=20)
    assert ap == 0.0


def test_scalar_canvas_equals_triple():
    rng = np.random.default_rng(3)
    truth = rng.uniform(0, 32, (40, 3))
    pred = truth + rng.normal(0, 1, truth.shape)
    a = challenge_ap(truth, pred, diameter=5, canvas_size=32)
    b = challenge_ap(truth, pred, diameter=5, canvas_size=(32, 32, 32))
    assert a[0] == b[0]


def _reference(truth, pred, diameter, canvas):
    """Literal brute-force transcription of the published rule, written from its description."""
    pad = diameter / 2

    def keep(points):
        return np.array(
            [c for c in points if all(pad <= c[i] <= canvas[i] - pad for i in range(3))]
        ).reshape(-1, 3)

    truth, pred = keep(truth), keep(pred)
    precisions, recalls = [], []
    for t in np.linspace(0, 1, 10):
        if len(pred) == 0:
            tp, fp, fn = 0, 0, len(truth)
        elif len(truth) == 0:
            tp, fp, fn = 0, len(pred), 0
        else:
            gt_i, pr_i, ious = [], [], []
            for ip in range(len(pred)):
                for ig in range(len(truth)):
                    v = max(0.0, 1 - np.sqrt(((pred[ip] - truth[ig]) ** 2).sum()) / diameter)
                    if v > t:
                        gt_i.append(ig)
                        pr_i.append(ip)
                        ious.append(v)
            used_g, used_p = [], []
            for k in np.argsort(np.array(ious))[::-1]:
                if gt_i[k] not in used_g and pr_i[k] not in used_p:
                    used_g.append(gt_i[k])
                    used_p.append(pr_i[k])
            tp, fp, fn = len(used_g), len(pred) - len(used_p), len(truth) - len(used_g)
        precisions.append(tp / (tp + fp) if tp + fp else 0.0)
        recalls.append(tp / (tp + fn) if tp + fn else 0.0)
    x = np.array(recalls)[::-1]
    y = np.array(precisions)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2)), y, x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_reference(seed):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0, 40, (60, 3))
    pred = np.vstack([truth[:45] + rng.normal(0, 1.5, (45, 3)), rng.uniform(0, 40, (15, 3))])
    pred[:3] = pred[3]  # exact duplicates -> tied ious
    ap, p, r = challenge_ap(truth, pred, diameter=7, canvas_size=(40, 40, 40))
    ap_ref, p_ref, r_ref = _reference(truth, pred, 7, (40, 40, 40))
    assert ap == ap_ref
    assert p.tolist() == p_ref.tolist()
    assert r.tolist() == r_ref.tolist()


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"diameter": 0, "canvas_size": 20}, ValueError, "diameter"),
        ({"diameter": 4, "canvas_size": (20, 20)}, ValueError, "canvas_size"),
        ({"diameter": 4, "canvas_size": None}, TypeError, "canvas_size"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        challenge_ap(at(10), at(10), **kwargs)
    with pytest.raises(TypeError, match="threshold"):
        challenge_precision_recall(at(10), at(10), diameter=4, threshold="0.5", canvas_size=20)
