"""The per-class cryo-ET picks report: numbers from a known set of mistakes, and the page."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from voxpick.analysis.picks_report import analyse_picks, build_picks_report
from voxpick.simulate import ParticleClass, simulate_tomogram

VS = 10.0
CLASSES = (ParticleClass("small", 40.0, count=6), ParticleClass("large", 80.0, count=4))
RADII = {"small": 40.0, "large": 80.0}


@pytest.fixture(scope="module")
def tomogram() -> tuple[np.ndarray, pd.DataFrame]:
    return simulate_tomogram(
        (40, 64, 64), classes=CLASSES, voxel_size=VS, defocus_um=None, snr=2.0, rng=5
    )


def _picks(truth: pd.DataFrame) -> pd.DataFrame:
    """Every particle picked except the first small one; the first large one picked as small;
    one pick on empty background."""
    small = truth.index[truth["particle_type"] == "small"]
    large = truth.index[truth["particle_type"] == "large"]
    picks = truth.drop(index=[small[0]])[["particle_type", "z", "y", "x"]].copy()
    picks.loc[large[0], "particle_type"] = "small"
    picks.loc[large[0], "x"] += 1.0  # within the small zone (2 voxels) of nothing small
    background = pd.DataFrame({"particle_type": ["large"], "z": [-50.0], "y": [0.0], "x": [0.0]})
    picks = pd.concat([picks, background], ignore_index=True)
    return picks.assign(score=np.linspace(0.9, 0.3, len(picks)))


def test_per_class_counts_follow_the_mistakes(tomogram) -> None:
    _, truth = tomogram
    data = analyse_picks(_picks(truth), radii_A=RADII, voxel_size=VS, truth=truth)
    table = data.per_class.set_index("particle_type")
    assert table.loc["small", ["n_truth", "tp", "fn"]].tolist() == [6, 5, 1]
    assert table.loc["small", ["fp", "fp_on_other_class"]].tolist() == [1, 1]  # the large one
    assert table.loc["large", ["n_truth", "tp", "fn", "fp"]].tolist() == [4, 3, 1, 1]
    assert table.loc["large", "fn_picked_as_other"] == 1
    assert table.loc["large", "fp_on_other_class"] == 0  # the background pick
    assert table.loc["small", "recall"] == pytest.approx(5 / 6)
    assert table.loc["large", "precision"] == pytest.approx(3 / 4)
    missed = data.truth.loc[~data.truth["found"]]
    assert sorted(missed["picked_as"]) == ["", "small"]
    assert 0 < data.score < 1


def test_report_page_has_a_gallery_per_class(tomogram) -> None:
    vol, truth = tomogram
    page = build_picks_report(vol, _picks(truth), radii_A=RADII, voxel_size=VS, truth=truth,
                              examples=3)  # fmt: skip
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<h2>small</h2>" in page and "<h2>large</h2>" in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 2
    assert "fp_on_other_class" in page and "Mean F-beta" in page
    alone = build_picks_report(vol, _picks(truth), radii_A=RADII, voxel_size=VS)
    assert "No true particles given" in alone and "Mean F-beta" not in alone


def test_report_refuses_bad_input(tomogram) -> None:
    vol, truth = tomogram
    picks = _picks(truth)
    with pytest.raises(ValueError, match="missing columns"):
        build_picks_report(vol, picks.drop(columns="x"), radii_A=RADII, voxel_size=VS)
    with pytest.raises(ValueError, match=r"without a radius.*\['large', 'small'\]"):
        build_picks_report(vol, picks.assign(particle_type="huge"), radii_A=RADII, voxel_size=VS)
    with pytest.raises(ValueError, match="examples=0"):
        build_picks_report(vol, picks, radii_A=RADII, voxel_size=VS, examples=0)
    with pytest.raises(ValueError, match="radii_A is empty"):
        analyse_picks(picks, radii_A={}, voxel_size=VS)
