"""``method="auto"``: the U-Net on crowded volumes, the classical detector on sparse ones."""

from __future__ import annotations

import functools
import warnings
from functools import partial

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from voxpick.api import locate
from voxpick.detect import DETECTION_COLUMNS, detections_frame
from voxpick.detect.measure import neighbour_correlation
from voxpick.metrics import evaluate
from voxpick.ml.auto import DENSE_VOLFRAC, NOISE_SCORE, add_missed, unet_volume_fraction
from voxpick.simulate import simulate_volume

locate_classical = partial(locate, method="classical")
locate_unet = partial(locate, method="unet")
locate_auto = partial(locate, method="auto")
locate_chunked = partial(locate, chunks=256)

ZYX = ["z", "y", "x"]


@functools.cache
def sparse():
    return simulate_volume(64, radius=4, volfrac=0.15, snr=6, cnr=4, particle_size=0.3, rng=4)


@functools.cache
def crowded():
    return simulate_volume(64, radius=5, volfrac=0.5, snr=6, cnr=4, particle_size=0.15, rng=5)


def f1(sim, found, d):
    return evaluate(sim.truth, found, diameter=d).f1


def test_sparse_volume_gets_the_classical_detector():
    sim = sparse()
    found = locate_auto(sim.volume, diameter=8)
    assert found.attrs["detector"] == "classical" and found.attrs["method"] == "auto"
    assert found.attrs["unet_volume_fraction"] < DENSE_VOLFRAC
    pd.testing.assert_frame_equal(found, locate_classical(sim.volume, diameter=8))
    # the U-Net adds false peaks beside sparse particles: the choice is worth it here
    unet = locate_unet(sim.volume, diameter=8)
    assert f1(sim, found, 8) > f1(sim, unet, 8) + 0.03
    assert f1(sim, found, 8) > 0.9


def unet_part(found: pd.DataFrame) -> pd.DataFrame:
    """The U-Net's own rows of an auto result, as :func:`locate_unet` returns them."""
    return found[found["detector"] == "unet"].reset_index(drop=True)


def test_crowded_volume_gets_the_unet_and_what_it_missed():
    sim = crowded()
    found = locate(sim.volume, diameter=10)  # the default method
    assert found.attrs["detector"] == "unet"
    assert found.attrs["unet_volume_fraction"] >= DENSE_VOLFRAC
    assert list(found.columns) == list(DETECTION_COLUMNS)
    unet = locate_unet(sim.volume, diameter=10)
    pd.testing.assert_frame_equal(unet_part(found), unet)
    classical = locate_classical(sim.volume, diameter=10)
    added = found[found["detector"] == "classical"]
    assert 0 < len(added) < 0.2 * len(found)
    # the additions are classical detections half a diameter or more from every U-Net one
    dist, _ = cKDTree(unet[ZYX].to_numpy()).query(added[ZYX].to_numpy())
    assert dist.min() >= 0.5 * 10
    dist, _ = cKDTree(classical[ZYX].to_numpy()).query(added[ZYX].to_numpy())
    assert dist.max() < 1e-9
    assert (added["score"] == 1.0).all() and added["snr"].notna().all()
    assert (found["score"].diff().dropna() <= 0).all()
    # merged neighbours recovered: better than the U-Net alone, far better than classical
    assert f1(sim, found, 10) > f1(sim, unet, 10) + 0.005
    assert f1(sim, found, 10) > f1(sim, classical, 10) + 0.15


@pytest.mark.parametrize(
    ("kind", "edge", "diameter"), [("normal", 64, 8), ("uint8", 48, 6), ("poisson", 96, 12)]
)
def test_noise_alone_is_not_taken_for_a_packing(kind, edge, diameter):
    rng = np.random.default_rng(edge)
    noise = {
        "normal": lambda: rng.normal(100.0, 10.0, (edge,) * 3).astype(np.float32),
        "uint8": lambda: rng.integers(0, 256, (edge,) * 3).astype(np.uint8),
        "poisson": lambda: rng.poisson(3.0, (edge,) * 3).astype(np.uint16),
    }[kind]()
    unet = locate_unet(noise, diameter=diameter)
    # the U-Net alone reports a packing of weak peaks in noise
    assert unet_volume_fraction(unet, shape=noise.shape, diameter_px=diameter) >= DENSE_VOLFRAC
    found = locate_auto(noise, diameter=diameter)
    assert found.attrs["detector"] == "classical" and found.attrs["unet_noise_like"]
    assert len(found) <= 3
    # an explicit dense_volfrac=0 still always keeps the U-Net
    assert locate_auto(noise, diameter=diameter, dense_volfrac=0.0).attrs["detector"] == "unet"


def test_faint_blurred_packing_keeps_the_unet():
    # PSF z sigma near 4 radii, SNR 2.2: the U-Net's peaks are as weak as on noise, but the
    # voxels are correlated, and the U-Net still finds half the particles the classical misses
    sim = simulate_volume(80, radius=6, volfrac=0.5, snr=2.2, cnr=2.2, particle_size=0.1, rng=1)
    found = locate_auto(sim.volume, diameter=12)
    assert np.median(found.loc[found["detector"] == "unet", "score"]) < NOISE_SCORE
    assert found.attrs["detector"] == "unet" and not found.attrs["unet_noise_like"]
    classical = locate_classical(sim.volume, diameter=12)
    assert f1(sim, found, 12) > f1(sim, classical, 12) + 0.3


def test_neighbour_correlation_tells_white_noise_from_structure():
    rng = np.random.default_rng(0)
    white = rng.normal(size=(64, 64, 64))
    assert abs(neighbour_correlation(white)) < 4 / np.sqrt(white.size)
    from scipy import ndimage

    assert neighbour_correlation(ndimage.gaussian_filter(white, 1.0)) > 0.5
    assert neighbour_correlation(np.zeros((8, 8, 8))) == 0.0


def test_the_cut_decides_and_options_reach_the_unet():
    sim = sparse()
    always_unet = locate_auto(sim.volume, diameter=8, dense_volfrac=0.0, tile=32)
    assert always_unet.attrs["detector"] == "unet"
    pd.testing.assert_frame_equal(
        unet_part(always_unet), locate_unet(sim.volume, diameter=8, tile=32)
    )
    never = locate_auto(crowded().volume, diameter=10, dense_volfrac=1.0)
    assert never.attrs["detector"] == "classical"


def test_add_missed_measures_distance_in_diameters_per_axis():
    unet = detections_frame([[10.0, 10.0, 10.0]], score=[6.0], detector="unet")
    classical = detections_frame(
        [[10, 10, 10], [19, 10, 10], [10, 14, 10], [10, 30, 10]],
        score=[3.0, 2.5, 2.0, 1.5], detector="classical",
        columns={"snr": np.array([9.0, 8.0, 7.0, 6.0])},
    )  # fmt: skip
    # diameter 20 px along z, 8 in y and x: 9 px along z is 0.45 d (same particle), 4 px
    # along y is 0.5 d (another one)
    out = add_missed(unet, classical, diameter_px=(20, 8, 8))
    assert out[ZYX].to_numpy().tolist() == [[10, 10, 10], [10, 14, 10], [10, 30, 10]]
    assert out["score"].tolist() == [6.0, 1.0, 1.0]
    assert out["detector"].tolist() == ["unet", "classical", "classical"]
    assert out["snr"].tolist()[1:] == [7.0, 6.0]
    none = add_missed(unet.iloc[:0], classical, diameter_px=8)
    assert len(none) == 4 and none["snr"].tolist() == [9.0, 8.0, 7.0, 6.0]
    empty = add_missed(unet.iloc[:0], classical.iloc[:0], diameter_px=8)
    assert list(empty.columns) == list(DETECTION_COLUMNS) and len(empty) == 0


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
        ({"separation": 4}, TypeError, "separation needs method='classical' or 'unet'"),
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
    assert list(found.columns) == list(DETECTION_COLUMNS)
    assert found.attrs["detector"] == "classical"


def test_chunked_auto_decides_once_on_the_centre(tmp_path):
    import dask.array as da

    from voxpick.io import read_positions

    sim = crowded()
    lazy = da.from_array(sim.volume, chunks=32)
    found = locate(lazy, diameter=10)
    assert found.attrs["detector"] == "unet"
    assert found.attrs["auto_sample_shape"] == sim.volume.shape  # 64^3 < the 128 crop
    assert found.attrs["n_blocks"] == 1
    whole = locate_auto(sim.volume, diameter=10)
    added = found["detector"] == "classical"
    assert added.sum() == (whole["detector"] == "classical").sum() > 0
    pd.testing.assert_frame_equal(found, whole, atol=1e-4)
    # in blocks, with the result written to a file as well

    out = tmp_path / "p.csv"
    blocks = locate_chunked(sim.volume, diameter=10, chunks=32, out=out, progress=False)
    assert blocks.attrs["detector"] == "unet" and blocks.attrs["n_blocks"] == 8
    pd.testing.assert_frame_equal(read_positions(out), blocks, check_dtype=False)
    # the U-Net normalises and resamples each block on its own grid (docs/scale.md): blocks
    # aligned to the classical detector's background grid (35^3 cores here) move it by ~3%
    assert abs(len(blocks) - len(whole)) <= 0.04 * len(whole)
