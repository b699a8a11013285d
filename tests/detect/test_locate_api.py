"""The public ``voxpick.detect.locate`` API: dispatch, schema, units and input validation."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

import voxpick.detect as detect
from voxpick.detect import DETECTION_COLUMNS, detections_frame, locate, locate_classical
from voxpick.metrics import evaluate
from voxpick.simulate import simulate_volume


@functools.cache
def volume() -> tuple[np.ndarray, pd.DataFrame]:
    sim = simulate_volume(48, radius=4, volfrac=0.4, snr=8, cnr=4, rng=11)
    return sim.volume, sim.truth


def test_exports():
    for name in ("locate", "locate_classical", "DETECTION_COLUMNS", "detections_frame"):
        assert name in detect.__all__
    assert DETECTION_COLUMNS[:4] == ("z", "y", "x", "score")
    assert list(detections_frame().columns) == list(DETECTION_COLUMNS)


def test_classical_method():
    vol, truth = volume()
    found = locate(vol, diameter=8, method="classical")
    pd.testing.assert_frame_equal(found, locate_classical(vol, diameter=8))
    assert list(found.columns[:4]) == list(DETECTION_COLUMNS)
    assert found.attrs["method"] == "classical"
    ev = evaluate(truth, found, diameter=8, border=4, canvas_size=vol.shape)
    assert ev.recall > 0.95 and ev.precision > 0.95


def test_default_method_is_auto():
    vol, truth = volume()  # volume fraction 0.4: crowded enough for the U-Net
    found = locate(vol, diameter=8)
    assert found.attrs["method"] == "unet"
    assert found.attrs["unet_volume_fraction"] > 0.35
    pd.testing.assert_frame_equal(found, locate(vol, diameter=8, method="auto"))
    assert list(found.columns[:4]) == list(DETECTION_COLUMNS)
    ev = evaluate(truth, found, diameter=8, border=4, canvas_size=vol.shape)
    assert ev.recall > 0.95 and ev.precision > 0.9


def test_unknown_method_lists_the_valid_ones():
    vol, _ = volume()
    expected = r"method='dl' is unknown.*\['auto', 'classical', 'unet'\]"
    with pytest.raises(ValueError, match=expected):
        locate(vol, diameter=8, method="dl")


def test_method_options_pass_through():
    vol, _ = volume()
    loose = locate(vol, diameter=8, method="classical", threshold=2.0)
    strict = locate(vol, diameter=8, method="classical", threshold=20.0)
    assert loose.attrs["threshold"] == 2.0
    assert len(strict) < len(loose)
    assert (strict.score >= 20.0).all()
    with pytest.raises(TypeError, match="no_such_option"):
        locate(vol, diameter=8, no_such_option=1)


def test_physical_units_equal_voxel_units():
    vol, _ = volume()
    in_px = locate(vol, diameter=8)
    in_um = locate(vol, diameter=0.8, voxel_size=0.1)
    as_triple = locate(vol, diameter=(0.8, 0.8, 0.8), voxel_size=[0.1, 0.1, 0.1])
    pd.testing.assert_frame_equal(in_px, in_um)
    pd.testing.assert_frame_equal(in_px, as_triple)
    # Positions stay in voxels whatever the units of the diameter.
    assert in_um.z.max() > 40


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64])
def test_any_numeric_dtype(dtype):
    vol, _ = volume()
    reference = locate(vol, diameter=8)
    found = locate(vol.astype(dtype), diameter=8)
    assert len(found) == len(reference)
    np.testing.assert_allclose(found[["z", "y", "x"]], reference[["z", "y", "x"]], atol=1e-6)


def test_input_is_not_modified():
    vol, _ = volume()
    copy = vol.copy()
    locate(vol, diameter=8, invert=True)
    np.testing.assert_array_equal(vol, copy)


def test_empty_result_has_the_schema():
    found = locate(np.zeros((24, 24, 24), np.uint8), diameter=6)
    assert len(found) == 0
    assert list(found.columns[:4]) == list(DETECTION_COLUMNS)
    assert {"mass", "signal"} <= set(found.columns)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"diameter": 0}, "diameter"),
        ({"diameter": 64}, "larger than the volume"),
        ({"diameter": [8, 8, 8, 8]}, "4 components"),
        ({"diameter": 8, "voxel_size": -1}, "voxel_size"),
        ({"diameter": 8, "separation": 0, "method": "classical"}, "separation"),
        ({"diameter": 8, "dense_volfrac": 2}, "dense_volfrac=2 must be a volume fraction"),
    ],
)
def test_errors_name_the_bad_value(args, match):
    vol, _ = volume()
    with pytest.raises(ValueError, match=match):
        locate(vol, **args)


def test_wrong_dimensionality_and_nan():
    with pytest.raises(ValueError, match="expected a 3D array"):
        locate(np.zeros((2, 16, 16, 16)), diameter=4)
    bad = np.ones((16, 16, 16))
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        locate(bad, diameter=4)
