"""The public ``voxpick.locate`` API: dispatch, schema, units and input validation."""

from __future__ import annotations

import functools
import inspect
from functools import partial

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

import voxpick.detect as detect
from voxpick.api import locate
from voxpick.detect import DETECTION_COLUMNS, detections_frame
from voxpick.metrics import evaluate
from voxpick.simulate import simulate_volume

locate_classical = partial(locate, method="classical")


@functools.cache
def volume() -> tuple[np.ndarray, pd.DataFrame]:
    sim = simulate_volume(48, radius=4, volfrac=0.4, snr=8, cnr=4, rng=11)
    return sim.volume, sim.truth


def test_exports():
    import voxpick

    assert voxpick.locate is locate
    for name in ("DETECTION_COLUMNS", "detections_frame", "register_detector", "suppress_close"):
        assert name in detect.__all__
    assert DETECTION_COLUMNS[:5] == ("z", "y", "x", "score", "detector")
    assert list(detections_frame().columns) == list(DETECTION_COLUMNS)


def test_every_option_is_in_the_signature():
    params = inspect.signature(locate).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values())
    assert next(iter(params)) == "volume"
    assert all(p.kind is p.KEYWORD_ONLY for name, p in params.items() if name != "volume")
    # every option of every registered detector is reachable from locate
    for method in detect.detector_names():
        for option in detect.detector_class(method).options:
            assert option.removesuffix("_px") in params, (method, option)


def test_learned_defaults_match_the_detectors():
    from voxpick.ml.auto import DENSE_VOLFRAC
    from voxpick.nn.predict import DEFAULT_TILE

    defaults = locate.__kwdefaults__
    assert defaults["tile"] == DEFAULT_TILE and defaults["dense_volfrac"] == DENSE_VOLFRAC


def test_classical_method():
    vol, truth = volume()
    found = locate(vol, diameter=8, method="classical")
    pd.testing.assert_frame_equal(found, locate_classical(vol, diameter=8))
    assert list(found.columns) == list(DETECTION_COLUMNS)
    assert found.attrs["method"] == found.attrs["detector"] == "classical"
    assert (found.detector == "classical").all() and found.heatmap.isna().all()
    # score is the signal-to-noise ratio over the threshold: 1 at the threshold
    np.testing.assert_allclose(found.score * found.attrs["threshold"], found.snr)
    assert found.score.min() >= 1.0
    ev = evaluate(truth, found, diameter=8, border=4, canvas_size=vol.shape)
    assert ev.recall > 0.95 and ev.precision > 0.95


def test_default_method_is_auto():
    vol, truth = volume()  # volume fraction 0.4: crowded enough for the U-Net
    found = locate(vol, diameter=8)
    assert found.attrs["method"] == "auto" and found.attrs["detector"] == "unet"
    assert found.attrs["unet_volume_fraction"] > 0.35
    pd.testing.assert_frame_equal(found, locate(vol, diameter=8, method="auto"))
    assert list(found.columns) == list(DETECTION_COLUMNS)
    ev = evaluate(truth, found, diameter=8, border=4, canvas_size=vol.shape)
    assert ev.recall > 0.95 and ev.precision > 0.9
    unet = found[found.detector == "unet"]
    np.testing.assert_allclose(unet.score * found.attrs["threshold"], unet.heatmap)


def test_unet_method_sets_attrs():
    vol, _ = volume()
    found = locate(vol, diameter=8, method="unet")
    assert found.attrs["method"] == found.attrs["detector"] == "unet"
    assert found.attrs["threshold"] == pytest.approx(0.15, abs=0.2)
    assert found.snr.isna().all() and (found.score >= 1).all()
    # mass and signal are measured for every detector
    assert found.mass.notna().all() and (found.signal > 0).mean() > 0.9


@pytest.mark.parametrize("method", ["classical", "unet", "auto"])
def test_one_schema_whatever_the_path(method, tmp_path):
    vol, _ = volume()
    whole = locate(vol, diameter=8, method=method)
    blocks = locate(vol, diameter=8, method=method, chunks=24)
    empty = locate(np.zeros((24, 24, 24), np.uint8), diameter=6, method=method)
    for table in (whole, blocks, empty):
        assert list(table.columns) == list(DETECTION_COLUMNS)
        assert table.dtypes.to_dict() == whole.dtypes.to_dict()
    assert blocks.attrs["n_blocks"] == 8 and whole.attrs["n_blocks"] == 1
    for key in ("method", "detector", "diameter", "voxel_size", "diameter_px", "voxpick_version"):
        assert key in whole.attrs and key in blocks.attrs and key in empty.attrs


def test_whole_volume_is_the_one_block_case():
    vol, _ = volume()
    found = locate(vol, diameter=8, method="classical")
    one = locate(vol, diameter=8, method="classical", chunks=vol.shape, scheduler="synchronous")
    pd.testing.assert_frame_equal(found, one)


def test_options_a_method_does_not_take_are_refused():
    vol, _ = volume()
    with pytest.raises(TypeError, match=r"method='auto' does not take \['threshold'\]"):
        locate(vol, diameter=8, threshold=3.0)
    with pytest.raises(TypeError, match=r"'scales'.*needs method='unet'"):
        locate(vol, diameter=8, method="classical", scales="tta")
    with pytest.raises(TypeError, match="separation"):
        locate(vol, diameter=8, separation=4)


def test_a_registered_detector_runs_whole_and_in_blocks():
    """The tiler knows no detector by name: a new one runs through the same contract."""
    vol, _truth = volume()

    class Brightest(detect.Detector):
        name = "brightest"
        options = ()

        def estimate(self, source, setup):
            return {"level": float(np.percentile(source.read(np.s_[:, :, :]), 99.5))}

        def context(self, setup, params):
            return (9, 9, 9), (1, 1, 1)

        def find(self, block, setup, params, *, box):
            smooth = ndimage.gaussian_filter(block.astype(float), 2.0)
            peak = (smooth == ndimage.maximum_filter(smooth, size=5)) & (smooth > 0)
            pos = np.argwhere(peak).astype(float)
            return detect.detections_frame(pos, score=smooth[peak], detector="classical")

        def finish(self, candidates, setup, params):
            return candidates[candidates.score >= np.percentile(candidates.score, 50)]

    detect.register_detector("brightest", Brightest)
    try:
        whole = locate(vol, diameter=8, method="brightest")
        blocks = locate(vol, diameter=8, method="brightest", chunks=16)
    finally:
        detect.contract._REGISTRY.pop("brightest")
    assert whole.attrs["method"] == "brightest" and len(whole) > 20
    pd.testing.assert_frame_equal(
        whole.sort_values(["z", "y", "x"]).reset_index(drop=True),
        blocks.sort_values(["z", "y", "x"]).reset_index(drop=True),
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_attrs_travel_with_the_file(tmp_path, suffix):
    from voxpick.io import read_positions

    vol, _ = volume()
    out = tmp_path / f"found{suffix}"
    found = locate(vol, diameter=(8, 8, 8), method="classical", voxel_size=1.0, out=out)
    back = read_positions(out)
    assert back.attrs["method"] == "classical"
    assert back.attrs["threshold"] == pytest.approx(found.attrs["threshold"])
    assert back.attrs["diameter"] == [8.0, 8.0, 8.0]
    assert back.attrs["voxpick_version"] == found.attrs["voxpick_version"]
    assert list(back.columns) == list(DETECTION_COLUMNS)
    assert (tmp_path / "found.csv.json").exists() == (suffix == ".csv")


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
    assert (strict.snr >= 20.0).all() and (strict.score >= 1.0).all()
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
    assert list(found.columns) == list(DETECTION_COLUMNS)


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


def test_invert_must_be_a_flag():
    vol, _ = volume()
    with pytest.raises(TypeError, match="invert='yes' must be True or False"):
        locate(vol, diameter=8, invert="yes")


def test_wrong_dimensionality_and_nan():
    with pytest.raises(ValueError, match="expected a 3D array"):
        locate(np.zeros((2, 16, 16, 16)), diameter=4)
    bad = np.ones((16, 16, 16))
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        locate(bad, diameter=4)


@pytest.mark.parametrize("method", ["classical", "unet", "auto"])
@pytest.mark.parametrize("kind", ["numpy", "npy file", "zarr"])
@pytest.mark.parametrize(
    ("shape", "diameter", "voxel_size"),
    [((1, 64, 64), 3, 1.0), ((1, 64, 64), (2, 8, 8), 1.0), ((64, 1, 64), 8, 1.0),
     ((1, 64, 64), 80, 10.0)],
)  # fmt: skip
def test_every_method_refuses_a_volume_thinner_than_a_particle(
    method, kind, shape, diameter, voxel_size, tmp_path
):
    vol = np.random.default_rng(0).normal(100, 10, shape).astype(np.float32)
    if kind == "npy file":
        np.save(tmp_path / "v.npy", vol)
        source = tmp_path / "v.npy"
    elif kind == "zarr":
        import zarr

        source = zarr.open_array(str(tmp_path / "v.zarr"), mode="w", shape=shape, dtype="f4")
        source[...] = vol
    else:
        source = vol
    with pytest.raises(ValueError, match=r"larger than the volume .* along [zy]") as err:
        locate(source, diameter=diameter, voxel_size=voxel_size, method=method)
    assert str(shape) in str(err.value) and "\n" not in str(err.value)
