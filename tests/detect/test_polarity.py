"""Bright or dark particles: the cheap test behind the --invert suggestion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voxpick.detect.polarity import Polarity, particle_polarity
from voxpick.io import read_volume
from voxpick.simulate import simulate_volume

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.parametrize("volfrac", [0.1, 0.3])
def test_simulated_bright_and_dark_particles(volfrac):
    for invert, verdict in ((False, "bright"), (True, "dark")):
        sim = simulate_volume(64, radius=4, volfrac=volfrac, snr=5, cnr=4, invert=invert, rng=7)
        found = particle_polarity(sim.volume, diameter=8)
        assert found.verdict == verdict, found
        assert (found.skewness < 0) == invert
    # the inverted volume of dark particles is bright again
    assert particle_polarity(255 - sim.volume, diameter=8).verdict == "bright"


def test_pure_noise_is_unclear_or_bright_never_dark():
    noise = np.random.default_rng(3).normal(100.0, 10.0, (48, 48, 48))
    assert particle_polarity(noise, diameter=8).verdict != "dark"


def test_message_and_reprs():
    dark = Polarity("dark", -1.2, (48, 64, 64), 1700.0, 2900.0)
    assert "darker than the background" in dark.message and "invert=True" in dark.message
    assert "invert=True" not in dark.finding
    assert repr(dark).startswith("<Polarity dark:") and "<b>dark</b>" in dark._repr_html_()


def test_bad_diameter_is_a_clear_error():
    with pytest.raises(ValueError, match="diameter"):
        particle_polarity(np.zeros((16, 16, 16)), diameter=-2)


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is absent")
def test_real_volumes():
    crops = DATA / "colloids-real-crops"
    dark = particle_polarity(crops / "small_confocal_image.tif", diameter=(12, 10, 10))
    assert dark.verdict == "dark", dark
    levke = read_volume(DATA / "colloids-real" / "levke_v1.tiff")
    assert particle_polarity(levke, diameter=(15, 11, 11)).verdict == "bright"
