"""Model and checkpoint files on a faulty disk: damage is refused, failed writes leave nothing."""

from __future__ import annotations

import json
import struct
import zipfile

import pytest
import torch

from voxpick.ml import ModelSpec, TrainConfig, load_model, save_model
from voxpick.nn.model import build_model
from voxpick.nn.store import atomic_torch_save, safe_torch_load
from voxpick.nn.train import load_checkpoint

SPEC = ModelSpec(channels=(4, 8), strides=(2,), num_res_units=0)
INFO = {"model": SPEC.as_dict(), "model_diameter": 8.0, "sigma": 1.5}


def flip_inside_a_tensor(path, offset=40):
    """Flip one bit in the data of the largest tensor record (the zip headers stay intact)."""
    with zipfile.ZipFile(path) as archive:
        record = max(archive.infolist(), key=lambda r: r.file_size)
    data = bytearray(path.read_bytes())
    head = record.header_offset  # local header: name and extra-field lengths at +26 and +28
    name_len, extra_len = struct.unpack("<HH", data[head + 26 : head + 30])
    data[head + 30 + name_len + extra_len + offset] ^= 0x10
    path.write_bytes(bytes(data))
    return record.filename


def test_a_flipped_bit_in_a_tensor_would_load_silently_without_the_checksum(tmp_path):
    path = tmp_path / "t.pt"
    torch.save({"w": torch.arange(1000, dtype=torch.float32)}, path)
    flip_inside_a_tensor(path)
    altered = torch.load(path, weights_only=True)["w"]  # what resuming did before
    assert not torch.equal(altered, torch.arange(1000, dtype=torch.float32))
    with pytest.raises(ValueError, match=r"t\.pt is not valid weights .*CRC-32") as err:
        safe_torch_load(path, what="weights", fix="Write it again.")
    assert "\n" not in str(err.value)


def test_a_checkpoint_with_a_flipped_bit_is_refused(tmp_path):
    from voxpick.nn.train import Checkpoint, save_checkpoint

    net = build_model(SPEC)
    ckpt = Checkpoint(
        model=net.state_dict(), optimizer={"state": {}, "param_groups": []}, step=2,
        losses=[1.0, 0.5], seconds=1.0, batch_rng={"state": 1}, torch_rng=torch.get_rng_state(),
        config={},
    )  # fmt: skip
    save_checkpoint(ckpt, tmp_path / "ckpt.pt")
    assert load_checkpoint(tmp_path / "ckpt.pt").step == 2
    flip_inside_a_tensor(tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match=r"ckpt\.pt is not valid training checkpoint .*CRC-32"):
        load_checkpoint(tmp_path / "ckpt.pt")


def test_a_model_pair_not_written_together_is_refused(tmp_path):
    pt, js = save_model(build_model(SPEC), INFO, tmp_path / "m")
    assert "weights_sha256" in json.loads(js.read_text())
    load_model(tmp_path / "m", device="cpu")
    # a later run stopped between its two writes: new weights beside the old description
    torch.manual_seed(5)
    other = build_model(SPEC)
    atomic_torch_save({k: v.half() for k, v in other.state_dict().items()}, pt)
    with pytest.raises(ValueError, match=r"m\.pt is not the weights file m\.json describes"):
        load_model(tmp_path / "m", device="cpu")


def test_a_description_without_a_hash_still_loads(tmp_path):
    _, js = save_model(build_model(SPEC), INFO, tmp_path / "m")
    info = json.loads(js.read_text())
    del info["weights_sha256"]  # as written before the hash was recorded
    js.write_text(json.dumps(info))
    assert load_model(tmp_path / "m", device="cpu").model_diameter == 8.0


def test_equal_weights_give_equal_files(tmp_path):
    net = build_model(SPEC)
    a, _ = save_model(net, INFO, tmp_path / "a")
    b, _ = save_model(net, INFO, tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()


def test_a_failed_torch_write_is_an_os_error_naming_the_file_and_leaves_nothing(
    tmp_path, monkeypatch
):
    def full_disk(obj, f, *a, **k):
        f.write(b"PK\x03\x04 half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 17984")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match=r"ckpt\.pt: could not be written .*disk full") as err:
        atomic_torch_save({"w": torch.zeros(3)}, tmp_path / "ckpt.pt")
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_config_json_names_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"steps": 3,')
    with pytest.raises(ValueError, match=r"config\.json is not a valid training configuration"):
        TrainConfig.from_json(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object, found list"):
        TrainConfig.from_json(path)


def test_a_truncated_checkpoint_is_a_value_error_naming_it(tmp_path):
    from voxpick.nn.train import Checkpoint, save_checkpoint

    ckpt = Checkpoint(
        model=build_model(SPEC).state_dict(), optimizer={"state": {}, "param_groups": []},
        step=2, losses=[1.0], seconds=1.0, batch_rng={}, torch_rng=torch.get_rng_state(),
        config={},
    )  # fmt: skip
    path = tmp_path / "ckpt.pt"
    save_checkpoint(ckpt, path)
    data = path.read_bytes()
    for keep in (len(data) // 3, len(data) // 2, len(data) - 30):
        path.write_bytes(data[:keep])  # torch.load raises OSError(EINVAL) on some of these
        with pytest.raises(ValueError, match=r"ckpt\.pt is not valid training checkpoint"):
            load_checkpoint(path)


def test_a_new_training_run_removes_the_temporaries_of_a_killed_one(tmp_path):
    from voxpick.nn.train import start_run

    out = tmp_path / "run"
    out.mkdir()
    stale = [out / ".ckpt.pt.ab12cd.part", out / ".model.pt.x9y8z7.part"]
    for path in stale:
        path.write_bytes(b"half a file")
    start_run(out, {"steps": 1}, threads=0, device="cpu", seed=0)
    assert not any(p.exists() for p in stale) and (out / "config.json").is_file()
