from functools import partial

import numpy as np
import pytest
import torch

from voxpick.api import locate
from voxpick.detect.schema import DETECTION_COLUMNS
from voxpick.ml import HeatmapModel, ModelSpec, build_model
from voxpick.ml.data import gaussian_heatmap
from voxpick.ml.infer import find_peaks, on_outer_layer, predict_heatmap
from voxpick.nn.predict import _blocks

locate_unet = partial(locate, method="unet")


def _logit(p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def tiny_model(seed=0):
    torch.manual_seed(seed)
    spec = ModelSpec(channels=(4, 8, 8), strides=(2, 2), num_res_units=0)
    net = build_model(spec).eval()
    return HeatmapModel(
        net=net, spec=spec, model_diameter=8.0, sigma=1.5, threshold=0.5,
        device=torch.device("cpu"),
    )  # fmt: skip


def test_peak_extraction_recovers_subvoxel_centres():
    rng = np.random.default_rng(4)
    # a jittered lattice with touching neighbours (8 voxels apart, the model diameter)
    base = np.stack(np.meshgrid(*[np.arange(6, 40, 8.0)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pts = base + rng.uniform(-0.5, 0.5, size=base.shape)
    heat = gaussian_heatmap((46, 46, 46), pts, sigma=1.5)
    found, height = find_peaks(_logit(heat), threshold=0.5, peak_radius=2, min_separation=3.6)
    assert len(found) == len(pts)
    assert np.all(height > 0.8) and np.all(np.diff(height) <= 0)
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(pts).query(found)
    assert dist.max() < 0.1


def test_peak_extraction_plateau_gives_one_peak():
    logits = np.full((9, 9, 9), -5.0, dtype=np.float32)
    logits[3:5, 4, 4] = 3.0  # two equal neighbouring maxima
    found, _ = find_peaks(logits, threshold=0.5, min_separation=3.0)
    assert len(found) == 1


def test_peak_extraction_separation_can_be_an_ellipsoid():
    # three peaks 4 voxels apart along z and along x; an ellipsoid of semi-axes (5, 3, 3)
    # suppresses the z neighbour only, a sphere of radius 5 both, a sphere of radius 3 none
    heat = gaussian_heatmap((24, 24, 24), np.array([[8.0, 12, 8], [12, 12, 8], [8, 12, 12]]),
                            sigma=1.0)  # fmt: skip
    heat[8, 12, 8] = min(1.0, heat[8, 12, 8] * 1.01)  # the first is the highest
    logits = _logit(heat)
    count = {sep: len(find_peaks(logits, threshold=0.5, min_separation=sep)[0])
             for sep in (3.0, 5.0, (5.0, 3.0, 3.0), (3.0, 3.0, 5.0))}  # fmt: skip
    assert count == {3.0: 3, 5.0: 1, (5.0, 3.0, 3.0): 2, (3.0, 3.0, 5.0): 2}
    kept = find_peaks(logits, threshold=0.5, min_separation=(5.0, 3.0, 3.0))[0]
    np.testing.assert_allclose(np.sort(kept[:, 2]), [8, 12], atol=0.1)  # the x neighbour stays


def test_peaks_of_blobs_centred_outside_sit_on_the_outer_layer():
    # blobs centred inside (one voxel from a face and in the middle) and beyond two faces
    pts = np.array([[1.0, 4, 4], [10, 10, 10], [-1.2, 16, 16], [10, 16, 21.3]])
    found, _ = find_peaks(_logit(gaussian_heatmap((21, 21, 21), pts, sigma=1.5)),
                          threshold=0.2, min_separation=3.0)  # fmt: skip
    outer = on_outer_layer(found, (21, 21, 21))
    assert len(found) == 4 and outer.sum() == 2
    np.testing.assert_allclose(np.sort(found[outer][:, 0] + found[outer][:, 2]), [16, 30])
    # an axis too thin to have an inner layer is not tested
    assert not on_outer_layer(np.array([[0.0, 5.0, 5.0]]), (2, 11, 11)).any()
    assert on_outer_layer(np.array([[0.0, 5.0, 10.0]]), (2, 11, 11)).all()


def test_blocks_cover_the_extent():
    for extent in (8, 64, 72, 136, 200, 264):
        blocks = _blocks(extent, 32, 16)
        cores = [(a, b) for a, b, _, _ in blocks]
        assert cores[0][0] == 0 and cores[-1][1] == extent
        assert all(cores[i][1] == cores[i + 1][0] for i in range(len(cores) - 1))
        for a, b, lo, hi in blocks:
            assert lo <= a < b <= hi and lo % 8 == 0 and hi % 8 == 0
            assert a - lo >= min(16, a) and hi - b >= min(16, extent - b)


def test_tiled_heatmap_equals_whole_volume_for_a_local_network():
    # the tiny network's receptive field is smaller than the margin, so the stitched heatmap
    # must equal the whole-volume one up to float rounding
    model = tiny_model()
    image = np.random.default_rng(0).random((50, 61, 45)).astype(np.float32)
    whole = predict_heatmap(image, model, tile=512)
    tiled = predict_heatmap(image, model, tile=16, margin=16)
    assert tiled.shape == whole.shape == image.shape
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_empty_and_constant_volumes_give_an_empty_frame():
    model = tiny_model()
    for vol in (np.zeros((20, 20, 20), np.uint8), np.full((16, 20, 24), 3.5)):
        found = locate_unet(vol, diameter=8, model=model)
        assert list(found.columns) == list(DETECTION_COLUMNS)
        assert len(found) == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"volume": np.zeros((10, 10))}, ValueError, "3D"),
        ({"diameter": 1.0}, ValueError, "at least 2"),
        ({"diameter": (8, 8)}, ValueError, "3 values"),
        ({"diameter": 8, "voxel_size": 0.0}, ValueError, "voxel_size"),
        ({"threshold": 1.5}, ValueError, "threshold"),
        ({"model": 3}, TypeError, "model="),
        ({"model": "no_such_model"}, FileNotFoundError, "no_such_model"),
        ({"invert": "yes"}, TypeError, "invert"),
        ({"volume": np.full((8, 8, 8), np.nan)}, ValueError, "NaN"),
        ({"tile": 0}, ValueError, "tile"),
        ({"margin": 4}, ValueError, "margin"),
        ({"separation": -1.0}, ValueError, "separation"),
        ({"separation": (1, 2)}, ValueError, "separation"),
    ],
)
def test_bad_input_errors(kwargs, error, match):
    args = {"volume": np.random.default_rng(0).random((16, 16, 16)), "diameter": 8}
    if kwargs.get("model") is None or kwargs.get("model") == 3:
        args["model"] = tiny_model()
    args.update(kwargs)
    volume = args.pop("volume")
    with pytest.raises(error, match=match):
        locate_unet(volume, **args)
