"""Second stage for look-alike classes: shape descriptors, the refiner, its hook in ``pick``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voxpick.cryoet import (
    ClassRefiner,
    PickerClass,
    fit_class_refiner,
    load_class_refiner,
    pick,
    save_picker,
)
from voxpick.cryoet.classify import particle_descriptors
from voxpick.nn.model import ModelSpec, build_model
from voxpick.simulate import ParticleClass, simulate_tomogram

#: A ball and a rod (ellipsoid, long axis twice the short ones) of the SAME volume: their
#: equivalent-sphere radii are equal, so an assignment by size is no better than chance.
ROUND_A = 50.0
ROD_A = ROUND_A * 2 ** (2 / 3)  # bounding radius of the rod: semi-axes ROD_A, ROD_A / 2, ROD_A / 2
SHAPES = (
    ParticleClass("round", ROUND_A, shape="sphere"),
    ParticleClass("rod", ROD_A, shape="ellipsoid", aspect=2.0),
)
RADII = {"round": ROUND_A / 10.0, "rod": ROD_A / 10.0}  # voxels (10 A per voxel)


def _tomograms(seeds: range) -> list[tuple[np.ndarray, pd.DataFrame]]:
    return [
        simulate_tomogram((64, 64, 64), classes=SHAPES, counts=6, min_gap=2.0, rng=s) for s in seeds
    ]


@pytest.fixture(scope="module")
def fitted() -> tuple[ClassRefiner, list[tuple[np.ndarray, pd.DataFrame]]]:
    train = _tomograms(range(0, 2))
    refiner = fit_class_refiner([v for v, _ in train], [t for _, t in train], radii=RADII)
    return refiner, _tomograms(range(100, 103))


def test_equal_volume_shapes_are_told_apart_on_new_tomograms(fitted) -> None:
    refiner, held_out = fitted
    right, total = 0, 0
    for vol, truth in held_out:
        prob = refiner.class_probabilities(vol, truth[["z", "y", "x"]].to_numpy(float))
        assert prob.shape == (len(truth), 2) and np.allclose(prob.sum(axis=1), 1.0)
        got = np.asarray(refiner.classes)[prob.argmax(axis=1)]
        right += int((got == truth["particle_type"].to_numpy()).sum())
        total += len(truth)
    assert total == 36
    assert right / total >= 0.85  # chance (and any size-based rule) is 0.5


def test_descriptors_do_not_depend_on_orientation() -> None:
    gen = np.random.default_rng(3)
    vol = gen.normal(size=(40, 40, 40)).astype(np.float32)
    vol[14:26, 17:23, 17:23] -= 3.0  # a dark rod along z ...
    turned = np.ascontiguousarray(np.transpose(vol, (2, 1, 0)))  # ... and the same along x
    a = particle_descriptors(vol, [[19.5, 19.5, 19.5]], radius=6.0)
    b = particle_descriptors(turned, [[19.5, 19.5, 19.5]], radius=6.0)
    assert np.allclose(a, b, rtol=1e-6, atol=1e-6)
    ball = vol.copy()
    ball[14:26, 17:23, 17:23] += 3.0
    ball[16:24, 16:24, 16:24] -= 3.0
    c = particle_descriptors(ball, [[19.5, 19.5, 19.5]], radius=6.0)
    assert not np.allclose(a, c, rtol=0.05)


def test_save_load_round_trip(fitted, tmp_path) -> None:
    refiner, held_out = fitted
    path = refiner.save(tmp_path / "refiner")
    assert path.suffix == ".json" and not list(tmp_path.glob("*.part"))
    loaded = load_class_refiner(tmp_path / "refiner.json")
    assert loaded.classes == refiner.classes and loaded.info == refiner.info
    vol, truth = held_out[0]
    pos = truth[["z", "y", "x"]].to_numpy(float)
    assert np.allclose(loaded.class_probabilities(vol, pos), refiner.class_probabilities(vol, pos))


def test_pick_hook_uses_the_refiner_and_checks_its_classes(fitted, tmp_path) -> None:
    refiner, held_out = fitted
    spec = ModelSpec(channels=(8, 16, 32), strides=(2, 2), num_res_units=0)
    classes = (PickerClass("round", ROUND_A), PickerClass("rod", ROD_A))
    save_picker(
        build_model(spec, out_channels=3), classes=classes, voxel_size=10.0,
        thresholds={}, info={"model": spec.as_dict()}, path=tmp_path / "picker",
    )  # fmt: skip
    vol = held_out[0][0][:40, :40, :40]  # an untrained net finds many centres: keep it small
    plain = pick(vol, model=tmp_path / "picker", thresholds=0.01, device="cpu")
    assert set(plain["particle_type"]) == {"round", "rod"}  # an untrained net: both classes
    weights = np.zeros_like(refiner.weights)
    weights[-1] = [-20.0, 20.0]  # a descriptor model sure that everything is a rod
    sure = ClassRefiner(
        classes=refiner.classes, radius=refiner.radius, mean=refiner.mean,
        scale=refiner.scale, weights=weights,
    )  # fmt: skip
    refined = pick(vol, model=tmp_path / "picker", thresholds=0.01, classifier=sure, device="cpu")
    assert list(refined.columns) == list(plain.columns) and len(refined) > 0
    assert set(refined["particle_type"]) == {"rod"}
    other = ClassRefiner(
        classes=("rod", "round"), radius=refiner.radius, mean=refiner.mean,
        scale=refiner.scale, weights=refiner.weights,
    )  # fmt: skip
    with pytest.raises(ValueError, match="fitted for classes"):
        pick(vol, model=tmp_path / "picker", thresholds=0.0, classifier=other, device="cpu")


def test_bad_inputs_name_the_problem(fitted, tmp_path) -> None:
    refiner, held_out = fitted
    vol, truth = held_out[0]
    with pytest.raises(ValueError, match="picker= or radii="):
        fit_class_refiner([vol], [truth])
    with pytest.raises(ValueError, match="1 tomograms and 2 pick tables"):
        fit_class_refiner([vol], [truth, truth], radii=RADII)
    with pytest.raises(TypeError, match="list of 3D arrays"):
        fit_class_refiner(vol, [truth], radii=RADII)
    with pytest.raises(ValueError, match="lacks columns"):
        fit_class_refiner([vol], [truth[["z", "y", "x"]]], radii=RADII)
    with pytest.raises(ValueError, match="unknown"):
        fit_class_refiner([vol], [truth], radii={"round": 5.0})
    with pytest.raises(ValueError, match="classes \\['rod'\\]"):
        fit_class_refiner([vol], [truth[truth["particle_type"] == "round"]], radii=RADII)
    with pytest.raises(ValueError, match="needs picker="):
        fit_class_refiner([vol], [truth], radii=RADII, calibration=([vol], [truth]))
    with pytest.raises(ValueError, match="regularization"):
        fit_class_refiner([vol], [truth], radii=RADII, regularization=-1)
    with pytest.raises(ValueError, match="expected \\(2, 2\\)"):
        refiner.class_probabilities(vol, [[10, 10, 10], [20, 20, 20]], shares=np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        particle_descriptors(vol, [[np.nan, 1, 1]], radius=5.0)
    (tmp_path / "bad.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="expected 'voxpick-class-refiner-1'"):
        load_class_refiner(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="no such class refiner"):
        load_class_refiner(tmp_path / "absent.json")
