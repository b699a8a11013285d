"""``method="auto"``: the U-Net on crowded volumes, the classical detector on sparse ones."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest

from voxpick.detect import locate, locate_classical
from voxpick.detect.auto import DENSE_VOLFRAC, locate_auto, unet_volume_fraction
from voxpick.metrics import evaluate
from voxpick.ml import locate_unet
from voxpick.simulate import simulate_volume


@functools.cache
def sparse():
    return simulate_volume(64, radius=4, volfrac=0.15, snr=6, cnr=4, particle_size=0.6, rng=4)


@functools.cache
def crowded():
    return simulate_volume(64, radius=5, volfrac=0.5, snr=6, cnr=4, particle_size=0.3, rng=5)


def f1(sim, found, d):
    return evaluate(sim.truth, found, diameter=d).f1


def test_sparse_volume_gets_the_classical_detector():
    sim = sparse()
    found = locate_auto(sim.volume, diameter=8)
    assert found.attrs["method"] == "classical"
    assert found.attrs["unet_volume_fraction"] < DENSE_VOLFRAC
    pd.testing.assert_frame_equal(found, locate_classical(sim.volume, diameter=8))
    # the U-Net adds false peaks beside sparse particles: the choice is worth it here
    unet = locate_unet(sim.volume, diameter=8)
    assert f1(sim, found, 8) > f1(sim, unet, 8) + 0.03
    assert f1(sim, found, 8) > 0.9


def test_crowded_volume_gets_the_unet():
    sim = crowded()
    found = locate(sim.volume, diameter=10)  # the default method
    assert found.attrs["method"] == "unet"
    assert found.attrs["unet_volume_fraction"] >= DENSE_VOLFRAC
    unet = locate_unet(sim.volume, diameter=10)
    pd.testing.assert_frame_equal(found, unet)
    # small particles in a crowd: the classical detector misses most of them
    classical = locate_classical(sim.volume, diameter=10)
    assert f1(sim, found, 10) > f1(sim, classical, 10) + 0.15


def test_the_cut_decides_and_options_reach_the_unet():
    sim = sparse()
    always_unet = locate_auto(sim.volume, diameter=8, dense_volfrac=0.0, tile=32)
    assert always_unet.attrs["method"] == "unet"
    pd.testing.assert_frame_equal(always_unet, locate_unet(sim.volume, diameter=8, tile=32))
    never = locate_auto(crowded().volume, diameter=10, dense_volfrac=1.0)
    assert never.attrs["method"] == "classical"


def test_unet_volume_fraction_counts_inside_half_a_diameter():
    shape = (40, 40, 40)
    d = 8.0
    inner = pd.DataFrame({"z": [20.0, 10.0], "y": [20.0, 12.0], "x": [20.0, 30.0]})
    near_face = pd.DataFrame({"z": [1.0], "y": [20.0], "x": [20.0]})
    phi = unet_volume_fraction(inner, shape=shape, diameter_px=(d, d, d))
    expected = 2 * np.pi / 6 * d**3 / (40 - d) ** 3
    assert phi == pytest.approx(expected)
    both = pd.concat([inner, near_face], ignore_index=True)
    assert unet_volume_fraction(both, shape=shape, diameter_px=(d, d, d)) == pytest.approx(phi)
    # a volume under two diameters across: counted over the whole volume
    tiny = unet_volume_fraction(inner.iloc[:1], shape=(12, 40, 40), diameter_px=(d, d, d))
    assert tiny == pytest.approx(np.pi / 6 * d**3 / (12 * 40 * 40))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"threshold": 0.3}, TypeError, r"method='auto' does not take \['threshold'\]"),
        ({"separation": 4}, TypeError, "Pass method=.classical. or method=.unet."),
        ({"dense_volfrac": -0.1}, ValueError, "dense_volfrac=-0.1 must be a volume fraction"),
        ({"dense_volfrac": "lots"}, ValueError, "dense_volfrac='lots'"),
    ],
)
def test_bad_options_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        locate_auto(sparse().volume, diameter=8, **kwargs)


def test_empty_volume_has_the_schema():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = locate_auto(np.zeros((32, 32, 32), np.uint8), diameter=6)
    assert len(found) == 0
    assert list(found.columns[:4]) == ["z", "y", "x", "score"]
    assert found.attrs["method"] == "classical"


def test_chunked_auto_decides_once_on_the_centre():
    import dask.array as da

    sim = crowded()
    lazy = da.from_array(sim.volume, chunks=32)
    found = locate(lazy, diameter=10)
    assert found.attrs["method"] == "unet"
    assert found.attrs["auto_sample_shape"] == sim.volume.shape  # 64^3 < the 128 crop
    assert found.attrs["n_blocks"] == 1
    pd.testing.assert_frame_equal(
        found.reset_index(drop=True)[["z", "y", "x"]],
        locate_unet(sim.volume, diameter=10)[["z", "y", "x"]].reset_index(drop=True),
        atol=1e-6,
    )
