import json
import os
from functools import partial

import numpy as np
import pytest

from voxpick.api import locate
from voxpick.ml import ModelSpec, TrainConfig, load_model, train
from voxpick.ml.data import SampleRanges

locate_unet = partial(locate, method="unet")


def tiny_config(**kw):
    base = dict(
        steps=5,
        batch_size=1,
        patch=24,
        pool_size=2,
        pool_volume=24,
        refresh_every=2,
        warmup=2,
        ckpt_every=2,
        log_every=2,
        seed=11,
        threads=2,
        device="cpu",
        model=ModelSpec(channels=(4, 8, 16), strides=(2, 2), num_res_units=0),
        ranges=SampleRanges(radius=(3.0, 4.0), volfrac=(0.2, 0.4), p_dense=0.0, p_zstep=0.0),
    )
    base.update(kw)
    return TrainConfig(**base)


def test_tiny_training_run_writes_everything_and_resumes(tmp_path):
    out = tmp_path / "run"
    lines = []
    res = train(tiny_config(), out, progress=False, log=lines.append)
    assert res.steps == 5 and len(res.losses) == 5
    assert all(np.isfinite(res.losses))
    for name in ("ckpt.pt", "config.json", "model.pt", "model.json"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "config.json").read_text())
    assert saved["steps"] == 5 and saved["model"]["channels"] == [4, 8, 16]
    assert TrainConfig.from_dict(saved) == tiny_config()
    assert any("step 4/5" in line for line in lines)

    # an 8-step run interrupted after step 4 (its checkpoint) and resumed matches an
    # uninterrupted 8-step run
    class Interrupt(Exception):
        pass

    def stop_at_4(line):
        if line.startswith("step 4/"):
            raise Interrupt

    with pytest.raises(Interrupt):
        train(tiny_config(steps=8), tmp_path / "cut", progress=False, log=stop_at_4)
    res2 = train(None, tmp_path / "cut", resume=True, progress=False, log=None)
    assert len(res2.losses) == 8
    ref = train(tiny_config(steps=8), tmp_path / "ref", progress=False, log=None)
    np.testing.assert_allclose(res2.losses, ref.losses, rtol=1e-5)
    out = tmp_path / "cut"

    # the trained model loads and runs (quality is not the point of 8 steps)
    model = load_model(out / "model", device="cpu")
    assert model.info["steps"] == 8
    found = locate_unet(np.random.default_rng(0).random((24, 24, 24)), diameter=6, model=model)
    assert list(found.columns[:4]) == ["z", "y", "x", "score"]


def test_init_starts_from_a_trained_model(tmp_path):
    import torch

    first = train(tiny_config(steps=4), tmp_path / "a", progress=False, log=None)
    start = load_model(first.model_path.with_suffix(""), device="cpu")
    # zero steps of learning rate: the continued run must still hold the initial weights
    lines = []
    init = first.model_path.with_suffix("")
    cont = train(tiny_config(steps=1, lr=1e-12, warmup=1, seed=12), tmp_path / "b",
                 init=init, progress=False, log=lines.append)  # fmt: skip
    after = load_model(cont.model_path.with_suffix(""), device="cpu")
    pairs = zip(start.net.state_dict().items(), after.net.state_dict().values(), strict=True)
    for (name, a), b in pairs:
        if a.dtype.is_floating_point and "running" not in name:
            torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    assert after.info["init"].endswith("a/model") and any("initialised" in x for x in lines)
    # a fresh run with the same seed starts elsewhere
    fresh = train(tiny_config(steps=1, lr=1e-12, warmup=1, seed=12), tmp_path / "c",
                  progress=False, log=None)  # fmt: skip
    w = load_model(fresh.model_path.with_suffix(""), device="cpu").net.state_dict()
    key = next(k for k, v in w.items() if v.dtype.is_floating_point and v.numel() > 10)
    assert not torch.allclose(w[key], start.net.state_dict()[key])
    # another architecture is refused with the fix in the message
    other = ModelSpec(channels=(4, 8), strides=(2,), num_res_units=0)
    with pytest.raises(ValueError, match="same model settings"):
        train(tiny_config(steps=1, model=other), tmp_path / "d", init=init, progress=False,
              log=None)  # fmt: skip


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="resume=True"):
        train(tiny_config(), tmp_path / "none", resume=True, progress=False, log=None)


class _Payload:
    """Unpickling this creates the directory ``marker``: proof that the pickle ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_resume_refuses_a_crafted_checkpoint_without_running_it(tmp_path):
    import torch

    out = tmp_path / "run"
    out.mkdir()
    saved = {"model": _Payload(tmp_path / "ran"), "step": 1, "config": tiny_config().as_dict()}
    torch.save(saved, out / "ckpt.pt")
    with pytest.raises(ValueError, match=r"ckpt\.pt is not valid training checkpoint") as err:
        train(None, out, resume=True, progress=False, log=None)
    assert not (tmp_path / "ran").exists() and "\n" not in str(err.value)
    torch.load(out / "ckpt.pt", weights_only=False)  # what resuming did before: runs it
    assert (tmp_path / "ran").is_dir()


def test_checkpoints_hold_only_tensors_and_plain_types(tmp_path):
    import torch

    from voxpick.nn.train import load_checkpoint

    train(tiny_config(steps=2), tmp_path / "run", progress=False, log=None)
    plain = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=True)  # refuses anything else
    assert plain["format"] == "voxpick-checkpoint" and plain["step"] == 2
    ckpt = load_checkpoint(tmp_path / "run" / "ckpt.pt")
    assert ckpt.config == tiny_config(steps=2).as_dict() and ckpt.meta == {"init": None}
    assert len(ckpt.losses) == 2 and ckpt.optimizer["param_groups"][0]["lr"] > 0


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"patch": 30}, "multiple of 4"),
        ({"pool_volume": 16}, "pool_volume"),
        ({"steps": 0}, "steps"),
        ({"lr": -1.0}, "lr"),
    ],
)
def test_config_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        tiny_config(**kw)


def test_config_json_round_trip(tmp_path):
    cfg = TrainConfig()
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg.as_dict()))
    assert TrainConfig.from_json(path) == cfg
    path.write_text(json.dumps({"steps": 10, "learning_rate": 1}))
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_json(path)
