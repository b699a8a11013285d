"""`voxpick refine` and `voxpick locate --refine` end to end, through the application object."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from voxpick.cli.app import app
from voxpick.detect.schema import REFINED_COLUMNS
from voxpick.io import read_positions, write_positions, write_tiff
from voxpick.simulate import simulate_volume

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    sim = simulate_volume(40, radius=4, volfrac=0.3, particle_size=0.5, snr=8, cnr=4, rng=2)
    folder = tmp_path_factory.mktemp("refine")
    write_tiff(folder / "stack.tif", sim.volume)
    truth = sim.truth[["z", "y", "x"]] + np.random.default_rng(0).normal(
        0, 0.4, (len(sim.truth), 3)
    )
    write_positions(folder / "found.csv", truth.clip(-0.49, 39.49))
    return folder, sim


def test_refine_command_writes_the_refined_table(files):
    folder, sim = files
    out = folder / "refined.csv"
    args = ["refine", str(folder / "stack.tif"), str(folder / "found.csv"), "-o", str(out)]
    result = runner.invoke(app, [*args, "--diameter", "8", "--no-progress"])
    assert result.exit_code == 0, result.output
    table = read_positions(out)
    assert list(table.columns[: len(REFINED_COLUMNS)]) == list(REFINED_COLUMNS)
    assert "added" in result.output and "removed" in result.output
    # positions moved towards the truth
    found = read_positions(folder / "found.csv")
    truth = sim.truth[["z", "y", "x"]].to_numpy()
    err_before = np.abs(found[["z", "y", "x"]].to_numpy() - truth).mean()
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(table[["z", "y", "x"]].to_numpy()).query(truth)
    assert np.median(dist) < 0.5 * err_before


def test_refine_command_refuses_particles_outside_the_volume(files):
    folder, _ = files
    write_positions(folder / "far.csv", np.array([[10.0, 10.0, 90.0]]))
    args = ["refine", str(folder / "stack.tif"), str(folder / "far.csv"), "-o", "x.csv"]
    result = runner.invoke(app, [*args, "--diameter", "8"])
    assert result.exit_code == 2
    assert "outside the volume" in " ".join(result.output.split())


def test_locate_refine_flag(files):
    folder, _ = files
    out = folder / "located.csv"
    args = ["locate", str(folder / "stack.tif"), "-o", str(out), "--diameter", "8"]
    result = runner.invoke(app, [*args, "--method", "classical", "--refine", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert list(read_positions(out).columns[-3:]) == ["sigma_z", "sigma_y", "sigma_x"]
