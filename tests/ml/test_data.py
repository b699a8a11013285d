import numpy as np
import pytest

from voxpick.ml.augment import AugmentConfig, augment_geometry, augment_intensity
from voxpick.ml.data import SampleRanges, gaussian_heatmap, make_sample
from voxpick.ml.infer import find_peaks


def test_heatmap_peaks_at_truth():
    pts = np.array([[10.3, 12.7, 8.1], [10.0, 20.6, 15.45], [3.2, 4.9, 25.0]])
    heat = gaussian_heatmap((20, 30, 32), pts, sigma=1.5)
    assert heat.dtype == np.float32 and heat.max() <= 1.0
    for p in pts:  # the voxel nearest each point is a local maximum
        c = tuple(np.rint(p).astype(int))
        window = heat[tuple(slice(max(0, i - 2), i + 3) for i in c)]
        assert heat[c] == window.max()
        assert heat[c] > 0.75
    logits = np.log(np.clip(heat, 1e-7, 1 - 1e-7) / (1 - np.clip(heat, 1e-7, 1 - 1e-7)))
    found, _height = find_peaks(logits, threshold=0.5, min_separation=3.0)
    assert len(found) == 3
    order = np.argsort(found[:, 0] * 1000 + found[:, 1])
    ref = pts[np.argsort(pts[:, 0] * 1000 + pts[:, 1])]
    np.testing.assert_allclose(found[order], ref, atol=0.01)


def test_make_sample_is_seeded_and_consistent():
    ranges = SampleRanges(radius=(3.0, 4.0), volfrac=(0.3, 0.3), p_dense=0.0)
    a = make_sample(np.random.default_rng(3), size=24, sigma=1.5, ranges=ranges)
    b = make_sample(np.random.default_rng(3), size=24, sigma=1.5, ranges=ranges)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.image.shape == a.target.shape
    assert min(a.image.shape) >= 23
    assert len(a.points) > 5
    # the target is ~1 at the true centres that fall inside the volume
    inside = np.all((a.points >= 0) & (a.points <= np.array(a.image.shape) - 1), axis=1)
    idx = np.rint(a.points[inside]).astype(int)
    assert np.median(a.target[idx[:, 0], idx[:, 1], idx[:, 2]]) > 0.85


def test_sample_ranges_draw_respects_constraints():
    gen = np.random.default_rng(0)
    ranges = SampleRanges()
    for _ in range(300):
        d = ranges.draw(gen)
        sim = d["sim"]
        assert 0.05 <= sim["volfrac"] <= 0.58
        assert 3 <= sim["radius"] <= 12
        if not sim["invert"]:
            assert sim["cnr"] <= np.sqrt(2) * sim["snr"]
        assert d["zstep"] in (1, 2, 3)
    assert SampleRanges.from_dict(ranges.as_dict()) == ranges
    with pytest.raises(ValueError, match="unknown keys"):
        SampleRanges.from_dict({"radius": [3, 4], "colour": 1})


def test_augmentations_keep_image_and_target_aligned():
    gen = np.random.default_rng(0)
    img = np.random.default_rng(1).random((8, 12, 12)).astype(np.float32)
    for _ in range(10):
        a, b = augment_geometry(img, img.copy(), gen, AugmentConfig())
        np.testing.assert_array_equal(a, b)
        assert a.shape == img.shape
    out = augment_intensity(img, gen, AugmentConfig(p_gamma=1.0, p_noise=1.0))
    assert out.dtype == np.float32 and out.shape == img.shape
