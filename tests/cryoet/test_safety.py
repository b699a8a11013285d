"""Model and checkpoint files are untrusted input: never run code, fail with one clear line."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from voxpick.cli.app import app
from voxpick.cryoet import PickerClass, PickerTrainConfig, load_picker, save_picker, train_picker
from voxpick.cryoet.data import LabelledTomogram
from voxpick.io import write_mrc
from voxpick.nn.model import ModelSpec, build_model

TINY = ModelSpec(channels=(4, 8), strides=(2,), num_res_units=0)
CLASSES = (PickerClass("small", 4.0), PickerClass("large", 8.0))
PICKER = {"format": "voxpick-picker", "classes": [], "voxel_size": 1.0}


class _Payload:
    """Unpickling this creates the directory ``marker``: proof that the pickle ran code."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _crafted(path, marker, **extra) -> None:
    """A checkpoint-shaped file whose pickle runs ``os.mkdir(marker)`` when fully unpickled."""
    torch.save({"model": _Payload(marker), "step": 1, **extra}, path)


def test_the_crafted_file_would_run_code_if_loaded_unsafely(tmp_path) -> None:
    _crafted(tmp_path / "ckpt.pt", tmp_path / "ran")
    torch.load(tmp_path / "ckpt.pt", weights_only=False)  # what resuming did before
    assert (tmp_path / "ran").is_dir()


def test_resuming_from_a_crafted_checkpoint_is_refused_without_running_it(tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    _crafted(out / "ckpt.pt", tmp_path / "ran")
    tomo = LabelledTomogram(
        image=np.zeros((16, 16, 16), np.float32), labels=np.zeros((16, 16, 16), np.uint8),
        centres=np.zeros((0, 3)),
    )  # fmt: skip
    cfg = PickerTrainConfig(steps=2, patch=16, model=TINY, threads=1)
    with pytest.raises(ValueError, match=r"ckpt\.pt is not valid training checkpoint") as err:
        train_picker([tomo], CLASSES, cfg, out, voxel_size=1.0, resume=True, progress=False,
                     log=None)  # fmt: skip
    assert not (tmp_path / "ran").exists()
    assert "\n" not in str(err.value)


def test_a_checkpoint_of_plain_data_without_the_training_state_is_refused(tmp_path) -> None:
    from voxpick.nn.train import load_checkpoint

    torch.save({"step": 3}, tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match=r"not a voxpick training checkpoint: it lacks"):
        load_checkpoint(tmp_path / "ckpt.pt")


def _picker(tmp_path, name="p"):
    return save_picker(
        build_model(TINY, out_channels=3), classes=CLASSES, voxel_size=1.0,
        thresholds={"small": 0.5, "large": 0.5}, info={"model": TINY.as_dict()},
        path=tmp_path / name,
    )  # fmt: skip


def _garbage_bytes(pt, js, tmp_path) -> None:
    pt.write_bytes(np.random.default_rng(0).bytes(3000))


def _empty(pt, js, tmp_path) -> None:
    pt.write_bytes(b"")


def _truncated(pt, js, tmp_path) -> None:
    pt.write_bytes(pt.read_bytes()[:500])


def _code(pt, js, tmp_path) -> None:
    torch.save({"weight": _Payload(tmp_path / "ran")}, pt)


def _plain_pickle(pt, js, tmp_path) -> None:
    pt.write_bytes(pickle.dumps({"weight": [1, 2, 3]}, protocol=2))


def _not_a_state_dict(pt, js, tmp_path) -> None:
    torch.save([torch.zeros(3)], pt)


def _other_architecture(pt, js, tmp_path) -> None:
    torch.save(build_model(TINY, out_channels=5).state_dict(), pt)


@pytest.mark.parametrize(
    "spoil",
    [_garbage_bytes, _empty, _truncated, _code, _plain_pickle, _not_a_state_dict,
     _other_architecture],
)  # fmt: skip
def test_a_bad_weights_file_is_one_clear_error_naming_it(tmp_path, spoil) -> None:
    pt, js = _picker(tmp_path)
    spoil(pt, js, tmp_path)
    with pytest.raises(ValueError) as err:
        load_picker(tmp_path / "p", device="cpu")
    message = str(err.value)
    assert str(pt) in message and "\n" not in message
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("\x00\xff garbage", "is not a model description"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"format": "voxpick-picker"}), "incomplete or invalid.*missing key 'model'"),
        (json.dumps({**PICKER, "model": {"channels": [4]}}), "incomplete or invalid.*channels"),
        (json.dumps({"format": "voxpick-unet-heatmap"}), "colloid models load with"),
    ],
)
def test_a_bad_description_is_one_clear_error_naming_it(tmp_path, text, match) -> None:
    _, js = _picker(tmp_path)
    js.write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        load_picker(tmp_path / "p", device="cpu")
    assert str(js) in str(err.value) and "\n" not in str(err.value)


def test_colloid_models_refuse_bad_files_the_same_way(tmp_path) -> None:
    from voxpick.ml import load_model, save_model

    spec = ModelSpec(channels=(4, 8), strides=(2,), num_res_units=0)
    pt, _ = save_model(
        build_model(spec), {"model": spec.as_dict(), "model_diameter": 8.0, "sigma": 1.5},
        tmp_path / "m",
    )  # fmt: skip
    assert load_model(tmp_path / "m", device="cpu").model_diameter == 8.0
    _code(pt, None, tmp_path)
    with pytest.raises(ValueError, match=r"m\.pt is not valid model weights"):
        load_model(tmp_path / "m", device="cpu")
    assert not (tmp_path / "ran").exists()


def test_voxpick_pick_with_a_garbage_model_prints_one_line_naming_the_file(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "garbage").mkdir()
    pt, _ = _picker(tmp_path / "garbage")
    pt.write_bytes(b"not a torch file at all")
    write_mrc(tmp_path / "tomo.mrc", np.zeros((16, 16, 16), np.float32), voxel_size=10.0)
    result = CliRunner().invoke(
        app, ["pick", "tomo.mrc", "--model", "garbage/p", "-o", "p.csv", "--no-progress"]
    )
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "garbage/p.pt is not valid model weights" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "p.csv").exists()
