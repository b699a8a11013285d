"""voxpick.report from Python: arrays or files in, a Report that shows in a notebook out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import voxpick
from voxpick.analysis import detections_per_plane
from voxpick.analysis.structure import isotropic_scale, z_bands
from voxpick.io import write_positions, write_tiff
from voxpick.simulate import simulate_volume


@pytest.fixture(scope="module")
def sim():
    return simulate_volume(40, radius=4, volfrac=0.3, snr=8, cnr=4, rng=12)


def test_report_from_a_locate_result_needs_no_diameter(sim, tmp_path: Path):
    found = voxpick.locate(sim.volume, diameter=8, method="classical")
    page = voxpick.report(sim.volume, found, truth=sim.truth, out=tmp_path / "r.html")
    assert page.path == tmp_path / "r.html" and page.path.read_text() == page.html
    expected = voxpick.metrics.evaluate(sim.truth, found, diameter=8)
    assert page.stats["diameter d"] == 8.0 and page.stats["metric: recall"] == expected.recall
    assert repr(page) == f"<Report: {len(found)} detections, saved to {page.path}>"
    frame = page._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and "<!DOCTYPE" not in frame  # escaped inside


def test_report_from_files_uses_the_file_calibration(sim, tmp_path: Path):
    vol = write_tiff(tmp_path / "v.tif", sim.volume, voxel_size=(0.2, 0.1, 0.1))
    write_positions(tmp_path / "d.csv", sim.truth[["z", "y", "x"]])
    page = voxpick.report(vol, tmp_path / "d.csv", diameter=0.8, truth=tmp_path / "d.csv")
    assert page.stats["voxel size (z, y, x)"] == "0.2, 0.1, 0.1"
    assert page.stats["metric: f1"] == 1.0
    assert "voxpick report: d.csv" in page.html


def test_report_refuses_detections_without_a_diameter(sim):
    with pytest.raises(ValueError, match="diameter= is needed"):
        voxpick.report(sim.volume, sim.truth[["z", "y", "x"]].to_numpy())


def test_a_coverslip_band_is_flagged(sim):
    rng = np.random.default_rng(0)
    band = pd.DataFrame({"z": np.full(40, 1.0), "y": rng.uniform(0, 39, 40),
                         "x": rng.uniform(0, 39, 40)})  # fmt: skip
    det = pd.concat([sim.truth[["z", "y", "x"]], band], ignore_index=True)
    counts = detections_per_plane(det, shape=sim.volume.shape)
    assert counts.sum() == len(det) and counts[1] >= 40
    assert z_bands(counts) == [1]
    assert z_bands(detections_per_plane(sim.truth, shape=sim.volume.shape)) == []
    page = voxpick.report(sim.volume, det, diameter=8)
    assert page.stats["z planes with a band of detections"] == "1"
    assert 'alt="detections per z plane"' in page.html


def test_isotropic_scale():
    assert isotropic_scale(8.0, (0.2, 0.1, 0.1)) == (8.0, (0.2, 0.1, 0.1))
    d, vs = isotropic_scale((13.3, 11.0, 11.0), 1.0)
    assert d == 11.0 and vs[0] == pytest.approx(11.0 / 13.3) and vs[1:] == (1.0, 1.0)
    with pytest.raises(ValueError, match="diameter=-1"):
        isotropic_scale(-1, 1.0)


def test_evaluation_displays_readably(sim):
    ev = voxpick.metrics.evaluate(sim.truth, sim.truth.iloc[5:], diameter=8)
    assert str(ev).startswith("precision 1.000, recall ")
    assert f"{ev.fn} FN" in str(ev) and "<td>recall</td>" in ev._repr_html_()
