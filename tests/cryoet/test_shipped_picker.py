"""The cryo-ET picker shipped inside the package: loads offline and picks synthetic tomograms."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from voxpick.cli.app import app
from voxpick.cryoet import DEFAULT_PICKER, load_picker, pick
from voxpick.io import picks_to_angstrom, read_submission, write_mrc
from voxpick.metrics.czii import CZII_PARTICLES, czii_score
from voxpick.nn.store import WEIGHTS_DIR
from voxpick.simulate import simulate_tomogram

VOXEL_A = 10.012


@pytest.fixture(scope="module")
def tomogram() -> tuple:
    # seed 9100: outside the training (1000-1023), validation (2000-2003) and test (3000-3005)
    # seeds of bench/recipes/train_picker_default.py; crowded, default imaging conditions
    return simulate_tomogram(112, voxel_size=VOXEL_A, density_scale=6, rng=9100)


def test_picker_and_model_card_ship_inside_the_package() -> None:
    assert (WEIGHTS_DIR / f"{DEFAULT_PICKER}.pt").is_file()
    info = json.loads((WEIGHTS_DIR / f"{DEFAULT_PICKER}.json").read_text())
    assert [c["name"] for c in info["classes"]] == [p.name for p in CZII_PARTICLES]
    assert info["voxel_size"] == VOXEL_A
    assert set(info["thresholds"]) == {p.name for p in CZII_PARTICLES}
    card = (WEIGHTS_DIR / f"{DEFAULT_PICKER}.md").read_text()
    assert "never evaluated on a real tomogram" in card


def test_shipped_picker_finds_czii_particles_in_a_synthetic_tomogram(tomogram) -> None:
    vol, truth = tomogram
    found = pick(vol, model=load_picker(device="cpu"))
    sub = picks_to_angstrom(found, voxel_size=VOXEL_A).assign(experiment="t")
    sol = (
        truth[["particle_type", "z_A", "y_A", "x_A"]]
        .set_axis(["particle_type", "z", "y", "x"], axis=1)
        .assign(experiment="t")
    )
    score, table = czii_score(sol, sub)
    # measured 0.96 (28 particles); an untrained network, swapped classes or picks off by half a
    # radius score about 0
    assert score >= 0.8, table
    assert table.set_index("particle_type").loc["ribosome", "recall"] >= 0.8, table


def test_voxpick_pick_uses_the_shipped_picker_by_default(tomogram, tmp_path) -> None:
    vol, _ = tomogram
    write_mrc(tmp_path / "tomo.mrc", vol, voxel_size=VOXEL_A)
    result = CliRunner().invoke(
        app,
        ["pick", str(tmp_path / "tomo.mrc"), "-o", str(tmp_path / "p.csv"), "--czii",
         "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    picks = read_submission(tmp_path / "p.csv")
    assert list(picks.columns) == ["id", "experiment", "particle_type", "x", "y", "z"]
    assert len(picks) > 10 and set(picks["particle_type"]) <= {p.name for p in CZII_PARTICLES}
    assert isinstance(picks, pd.DataFrame) and picks["x"].max() > 50 * VOXEL_A  # Angstrom
