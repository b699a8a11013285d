"""czii_outcomes labels each pick and truth particle by czii_score's rule, counts and all."""

from __future__ import annotations

import pandas as pd
import pytest

from voxpick.metrics import CziiParticle, czii_outcomes, czii_score

PARTICLES = [CziiParticle("big", 100.0, 1), CziiParticle("small", 40.0, 1)]


def _frame(rows: list[tuple[str, str, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["experiment", "particle_type", "x", "y", "z"])


def test_outcomes_name_the_failure_and_match_the_score() -> None:
    truth = _frame(
        [
            ("A", "big", 0, 0, 0),  # found
            ("A", "big", 1000, 0, 0),  # missed, a small pick sits on it
            ("A", "small", 0, 1000, 0),  # missed, nothing there
            ("A", "small", 0, 0, 1000),  # found by two picks
        ]
    )
    picks = _frame(
        [
            ("A", "big", 30, 0, 0),  # hit (zone 50 A)
            ("A", "small", 1010, 0, 0),  # false: on the big particle (its zone 50 A)
            ("A", "small", 0, 0, 1019),  # hit (zone 20 A, the sphere counts)
            ("A", "small", 0, 0, 985),  # hit as well
            ("A", "big", 5000, 0, 0),  # false: background
            ("B", "big", 0, 0, 0),  # experiment without truth: ignored, as by the score
        ]
    ).assign(score=[0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    out, true = czii_outcomes(truth, picks, particles=PARTICLES)
    assert len(out) == 5 and "score" in out.columns  # extra columns kept
    assert out["hit"].tolist() == [True, False, True, True, False]
    assert out["truth_type"].tolist() == ["", "big", "", "", ""]
    assert true["found"].tolist() == [True, False, False, True]
    assert true["picked_as"].tolist() == ["", "small", "", ""]
    _, table = czii_score(truth, picks, particles=PARTICLES)
    for name, row in table.set_index("particle_type").iterrows():
        mine = out["particle_type"] == name
        assert row["tp"] == int(true.loc[true["particle_type"] == name, "found"].sum())
        assert row["fp"] == int(mine.sum()) - row["tp"]  # a double hit counts as a false pick
        assert row["fn"] == int((~true["found"] & (true["particle_type"] == name)).sum())


def test_outcomes_refuse_bad_frames() -> None:
    with pytest.raises(ValueError, match="missing columns"):
        czii_outcomes(_frame([]).drop(columns="z"), _frame([]), particles=PARTICLES)
    with pytest.raises(ValueError, match="unknown particle_type"):
        czii_outcomes(_frame([("A", "huge", 0, 0, 0)]), _frame([]), particles=PARTICLES)
