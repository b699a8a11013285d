"""A picker of another network family (MONAI SegResNet) through voxpick's training loop."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from voxpick.cryoet import (
    PickerClass,
    PickerTrainConfig,
    labelled_tomogram,
    load_picker,
    pick,
    train_picker,
)
from voxpick.cryoet.picking import PICK_COLUMNS
from voxpick.nn.model import ModelSpec, build_model
from voxpick.simulate import ParticleClass, simulate_tomogram

SEGRESNET = ModelSpec(channels=(8, 16), strides=(2,), architecture="segresnet")
CLASSES = (PickerClass("small", 4.0), PickerClass("large", 8.0))  # voxel size 1 A


def test_segresnet_picker_trains_saves_loads_and_picks(tmp_path) -> None:
    classes = (ParticleClass("small", 4.0, count=4), ParticleClass("large", 8.0, count=2))
    vol, truth = simulate_tomogram(
        (32,) * 3, classes=classes, voxel_size=1.0, defocus_um=None, snr=5.0, rng=0
    )
    tomo = labelled_tomogram(vol, truth, CLASSES, voxel_size=1.0, name="t0")
    cfg = PickerTrainConfig(steps=2, batch_size=1, patch=16, model=SEGRESNET, seed=0, warmup=1)
    res = train_picker([tomo], CLASSES, cfg, tmp_path, voxel_size=1.0, progress=False, log=None)
    saved = json.loads(res.model_path.with_suffix(".json").read_text())
    assert saved["model"]["architecture"] == "segresnet"  # the JSON records the family
    picker = load_picker(res.model_path, device="cpu")
    assert picker.spec == SEGRESNET
    assert type(picker.net).__name__ == "SegResNet"
    picks = pick(vol, model=picker, thresholds=0.0)
    assert list(picks.columns) == list(PICK_COLUMNS)
    assert set(picks["particle_type"]) <= {"small", "large"}
    assert picks["score"].between(0.0, 1.0).all()


def test_segresnet_maps_every_voxel_to_class_logits() -> None:
    net = build_model(ModelSpec(architecture="segresnet"), out_channels=3).eval()
    with torch.no_grad():
        out = net(torch.zeros(1, 1, 16, 24, 32))
    assert out.shape == (1, 3, 16, 24, 32)


def test_model_spec_architecture_defaults_to_the_unet_and_checks_segresnet() -> None:
    old = {"channels": [16, 32, 64, 128], "strides": [2, 2, 2], "num_res_units": 1}
    spec = ModelSpec.from_dict(old)  # a JSON written before the field existed
    assert spec.architecture == "unet" and spec.as_dict() == {**old, "architecture": "unet"}
    assert type(build_model(spec)).__name__ == "UNet"
    with pytest.raises(ValueError, match="architecture='vnet' is unknown"):
        ModelSpec(architecture="vnet")
    with pytest.raises(ValueError, match="do not fit a SegResNet"):
        ModelSpec(channels=(16, 32, 48), strides=(2, 2), architecture="segresnet")
    with pytest.raises(ValueError, match="do not fit a SegResNet"):
        ModelSpec(channels=(12, 24), strides=(2,), architecture="segresnet")
    assert (
        ModelSpec(channels=(8, 16, 32), strides=(2, 2), architecture="segresnet").size_multiple == 4
    )
    assert np.prod(SEGRESNET.strides) == SEGRESNET.size_multiple
