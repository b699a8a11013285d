import base64
import re
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from voxpick.analysis.report import analyse, build_report, save_report
from voxpick.simulate import simulate_volume


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def sim():
    return simulate_volume(48, radius=4.0, volfrac=0.4, rng=5)


@pytest.fixture(scope="module")
def detections(sim):
    det = sim.truth.iloc[5:].copy()  # 5 missed
    det["score"] = np.linspace(1, 0.5, len(det))
    extra = det.iloc[:2].copy()
    extra[["z", "y", "x"]] += 1.0  # 2 duplicates 1.7 voxels from a real one
    extra["score"] = 0.1
    return __import__("pandas").concat([det, extra], ignore_index=True)


def test_analyse_numbers(sim, detections):
    data = analyse(sim.volume.shape, detections, diameter=8.0, truth=sim.truth)
    s = data.stats
    n = len(sim.truth)
    assert s["detections"] == n - 5 + 2 and s["truth particles"] == n
    assert s["metric: tp"] == n - 5 and s["metric: fp"] == 2 and s["metric: fn"] == 5
    assert s["detections: pairs closer than 0.8 d"] == 2
    assert s["truth: pairs closer than 0.8 d"] == 0
    assert s["detections: share with a neighbour closer than 0.8 d"] == pytest.approx(4 / (n - 3))
    assert "detections: diameter check" not in s  # 4 close of ~100: no hint
    assert s["truth: volume fraction"] == pytest.approx(0.4, rel=0.1)
    assert 0.25 < s["truth: q6 mean (interior)"] < 0.45
    assert 6 < s["truth: coordination number (interior)"] < 12
    assert 1.15 <= s["neighbour cutoff (d)"] <= 1.7
    assert set(data.rdf) == {"detections", "truth"}


def test_analyse_hints_at_check_diameter_when_told_too_large(sim):
    # the true positions judged with a diameter 1.5x too large: most neighbours look impossible
    data = analyse(sim.volume.shape, sim.truth, diameter=12.0)
    assert data.stats["detections: share with a neighbour closer than 0.8 d"] > 0.5
    assert "check-diameter" in data.stats["detections: diameter check"]


def test_report_is_self_contained_html(sim, detections, tmp_path):
    page = build_report(sim.volume, detections, diameter=8.0, truth=sim.truth, title="<my> run")
    parser = _Collector()
    parser.feed(page)
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>&lt;my&gt; run</title>" in page  # escaped
    images = [a["src"] for t, a in parser.tags if t == "img"]
    assert len(images) == 5  # overlays, g(r), NN histogram, detections per z plane, PR curve
    assert 'alt="detections per z plane"' in page
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # no external resource of any kind
    for _, attrs in parser.tags:
        for key in ("src", "href"):
            assert not attrs.get(key, "data:").startswith(("http", "//", "file:"))
    assert not re.search(r"url\(|@import|<script", page)
    for label in ("precision", "recall", "f1", "ap", "q6 mean", "volume fraction", "NN distance"):
        assert label in page
    out = save_report(tmp_path / "sub" / "r.html", page)
    assert out.read_text(encoding="utf-8") == page
    assert [p.name for p in out.parent.iterdir()] == ["r.html"]


def test_report_without_truth_and_anisotropic_voxels(sim):
    # the volume seen with z voxels twice as deep: diameter 8 physical = 4 z-voxels
    vol = sim.volume[::2]
    det = sim.truth[["z", "y", "x"]].to_numpy() / [2.0, 1.0, 1.0]
    page = build_report(vol, det, diameter=8.0, voxel_size=(2, 1, 1))
    assert "metric" not in page and "precision" not in page
    assert page.count("<img") == 4  # overlays, g(r), NN histogram, detections per z plane
    data = analyse(vol.shape, det, diameter=8.0, voxel_size=(2, 1, 1))
    assert data.stats["detections: NN distance median (d)"] == pytest.approx(1.0, abs=0.05)


def test_bad_diameter_is_a_clear_error(sim):
    with pytest.raises(ValueError, match="diameter=-1"):
        build_report(sim.volume, sim.truth, diameter=-1)
