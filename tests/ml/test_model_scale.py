import numpy as np
import pytest
import torch

from voxpick.ml.scale import (
    from_model_coords,
    model_zoom,
    normalize_intensity,
    to_model_coords,
    to_model_scale,
)
from voxpick.nn.model import ModelSpec, build_model, pick_device


def test_forward_shape_and_size():
    spec = ModelSpec()
    net = build_model(spec).eval()
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params * 2 < 4_000_000  # a few MB in float16
    with torch.inference_mode():
        out = net(torch.zeros(2, 1, 16, 24, 32))
    assert out.shape == (2, 1, 16, 24, 32)
    assert spec.size_multiple == 8


def test_model_spec_errors():
    with pytest.raises(ValueError, match="strides"):
        ModelSpec(channels=(4, 8, 16), strides=(2,))
    with pytest.raises(ValueError, match="channels"):
        ModelSpec(channels=(4,), strides=())
    with pytest.raises(ValueError, match="unknown keys"):
        ModelSpec.from_dict({"channels": [4, 8], "strides": [2], "depth": 3})
    spec = ModelSpec(channels=(4, 8), strides=(2,), num_res_units=0)
    assert ModelSpec.from_dict(spec.as_dict()) == spec


def test_pick_device():
    assert pick_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="not a torch device"):
        pick_device("gpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            pick_device("cuda")


@pytest.mark.parametrize("zoom", [(1.0, 1.0, 1.0), (2.0, 1.0, 0.5), (1.37, 0.61, 2.9)])
def test_coordinate_round_trip(zoom):
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.5, 40, size=(50, 3))
    back = from_model_coords(to_model_coords(pts, zoom), zoom)
    np.testing.assert_allclose(back, pts, atol=1e-12)


def _blob(shape, centre, sigma):
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    d2 = sum((g - c) ** 2 / (s * s) for g, c, s in zip(grids, centre, sigma, strict=True))
    return np.exp(-0.5 * d2)


def test_resampling_matches_coordinate_mapping():
    # a smooth blob at a known sub-voxel place lands where to_model_coords says it does
    shape, centre = (30, 40, 50), np.array([13.3, 21.6, 18.2])
    vol = _blob(shape, centre, (3.0, 3.0, 3.0))
    scaled, eff = to_model_scale(vol, model_zoom((5.0, 10.0, 16.0)))  # zoom 1.6, 0.8, 0.5
    assert scaled.shape == (48, 32, 25)
    assert eff == pytest.approx((48 / 30, 32 / 40, 25 / 50))
    grids = np.meshgrid(*[np.arange(n) for n in scaled.shape], indexing="ij")
    w = scaled / scaled.sum()
    found = np.array([(g * w).sum() for g in grids])
    expected = to_model_coords(centre, eff)[0]
    np.testing.assert_allclose(found, expected, atol=0.05)


def test_identity_zoom_is_a_no_op():
    vol = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out, eff = to_model_scale(vol, (1.0, 1.0, 1.0))
    assert eff == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(out, vol.astype(np.float32))


def test_normalize_intensity():
    assert normalize_intensity(np.full((8, 8, 8), 7.0)) is None
    rng = np.random.default_rng(1)
    vol = rng.normal(100, 10, size=(20, 20, 20))
    out = normalize_intensity(vol)
    assert out is not None and out.dtype == np.float32
    assert np.percentile(out, 1) == pytest.approx(0.0, abs=1e-3)
    assert np.percentile(out, 99.5) == pytest.approx(1.0, abs=1e-3)
    inv = normalize_intensity(vol, invert=True)
    assert inv is not None
    assert np.corrcoef(inv.ravel(), out.ravel())[0, 1] == pytest.approx(-1.0)
    sparse = np.zeros((20, 20, 20))
    sparse[10, 10, 10] = 5.0  # percentiles coincide: falls back to min/max
    out = normalize_intensity(sparse)
    assert out is not None and out.max() == pytest.approx(1.0)


def test_model_zoom_errors():
    with pytest.raises(ValueError, match="diameter_px"):
        model_zoom((0.0, 8.0, 8.0))
