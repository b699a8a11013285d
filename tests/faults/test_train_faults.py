"""Faults in training runs with checkpoints: resuming gives the uninterrupted model or refuses.

A tiny U-Net training run (8 steps, a checkpoint every 2, one thread: bit-reproducible) is
killed, starved of disk or has its checkpoint damaged; resuming (``voxpick.ml.train(None, out,
resume=True)``, or ``voxpick train --resume``) must end with exactly the weights and losses of
the uninterrupted run, or refuse with a clear message. A model that loads after a fault must
be the finished one.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fault_harness as fh
import numpy as np
import pytest
import torch

from voxpick.ml import ModelSpec, TrainConfig, load_model, train
from voxpick.ml.data import SampleRanges
from voxpick.nn.train import load_checkpoint

pytestmark = pytest.mark.faults

STEPS, EVERY = 8, 2
#: Description keys that differ between equal models: the time taken.
VARIES = ("train_seconds",)
SIGNALS = ("SIGKILL", "SIGTERM", "SIGINT")


def seeds(quick: int, full: int) -> list[Any]:
    """``quick`` seeds for CI, then up to ``full`` marked slow (``make test-faults``)."""
    return [s if s < quick else pytest.param(s, marks=pytest.mark.slow) for s in range(full)]


def tiny_config() -> TrainConfig:
    return TrainConfig(
        steps=STEPS, batch_size=1, patch=16, pool_size=2, pool_volume=16, refresh_every=2,
        warmup=2, ckpt_every=EVERY, log_every=EVERY, seed=11, threads=1, device="cpu",
        model=ModelSpec(channels=(4, 8), strides=(2,), num_res_units=0),
        ranges=SampleRanges(radius=(3.0, 4.0), volfrac=(0.2, 0.4), p_dense=0.0, p_zstep=0.0),
    )  # fmt: skip


@dataclass
class Reference:
    """The uninterrupted run: its weights, losses and model description."""

    root: Path
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    cases: int = 0

    def case(self) -> Path:
        self.cases += 1
        return self.root / f"case{self.cases:04d}"


@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Reference:
    import time

    root = tmp_path_factory.mktemp("train-faults")
    t0 = time.perf_counter()
    result = train(tiny_config(), root / "ref", progress=False, log=None)
    model = load_model(root / "ref" / "model", device="cpu")
    info = {k: v for k, v in model.info.items() if k not in VARIES}
    return Reference(root, model.net.state_dict(), result.losses, info, time.perf_counter() - t0)


def same_model(out: Path, ref: Reference) -> str | None:
    """None when ``out/model`` loads and is the reference model exactly, else why not."""
    model = load_model(out / "model", device="cpu")
    state = model.net.state_dict()
    bad = [k for k in ref.weights if not torch.equal(state[k], ref.weights[k])]
    info = {k: v for k, v in model.info.items() if k not in VARIES}
    if bad or info != ref.info:
        keys = sorted(k for k in set(info) | set(ref.info) if info.get(k) != ref.info.get(k))
        return f"model differs: {len(bad)} tensors, description keys {keys}"
    return None


def judge_model_after_fault(box: dict[str, str], out: Path, ref: Reference) -> bool:
    """A model left by the faulted run either refuses to load clearly or is the finished one."""
    if not (out / "model.pt").exists() and not (out / "model.json").exists():
        return True
    try:
        diff = same_model(out, ref)
    except fh.CLEAR as err:
        if fh.is_clear(err, str(out)):
            return True
        diff = f"unclear {type(err).__name__}: {err}"
    except Exception as err:
        diff = f"unexpected {type(err).__name__}: {err}"
    if diff:
        box["detail"] = f"after the fault: {diff}"[:300]
        return False
    return True


def judge_resume(box: dict[str, str], out: Path, ref: Reference) -> None:
    """Resume into ``out``: the reference exactly, or a clear refusal then a fresh run that is."""
    try:
        result = train(None, out, resume=True, progress=False, log=None)
    except fh.CLEAR as err:
        if not fh.is_clear(err, str(out)):
            box["detail"] = f"unclear refusal {type(err).__name__}: {err}"[:300]
            return
        box["outcome"], box["detail"] = "refused", str(err)[:200]
        (out / "ckpt.pt").unlink(missing_ok=True)  # what the message tells the user
        result = train(tiny_config(), out, progress=False, log=None)
    else:
        box["outcome"] = "equal"
    diff = same_model(out, ref)
    if result.losses != ref.losses:
        diff = f"losses differ: {result.losses} vs {ref.losses}"
    left = sorted(p.name for p in out.glob(".*.part"))
    if diff or left:
        box["outcome"], box["detail"] = "wrong", f"{diff or ''} left {left}"[:300]


@pytest.mark.parametrize("seed", seeds(1, 24))
def test_a_killed_training_run_resumes_to_the_same_model(ref, runner, seed):
    rng = np.random.default_rng([21, 11, seed])
    sig = SIGNALS[seed % 3]
    out = ref.case()
    spec: dict[str, Any] = {"config": tiny_config().as_dict(), "out": str(out)}
    if seed % 2 == 0:
        delay = float(rng.uniform(0, 1.0)) * ref.seconds
        fault, ended = (
            f"{sig} at {delay:.2f} s",
            runner.run("train", spec, kill_after=delay, sig=sig),
        )
    else:
        writes = 2 + STEPS // EVERY + 2  # config, checkpoints, model.pt, model.json
        spec["kill"] = fh.kill_spec(
            rng, points={"step": STEPS, "checkpoint": STEPS // EVERY, "rename": writes,
                         "torn": writes}, sig=sig,
        )  # fmt: skip
        fault, ended = f"{sig} {spec['kill']}", runner.run("train", spec)
    with fh.judged("kill training", fault) as box:
        if judge_model_after_fault(box, out, ref):
            judge_resume(box, out, ref)
            if (ended.status or {}).get("ok") and box["outcome"] == "equal":
                box["outcome"] = "missed"
    assert box["outcome"] != "wrong", (box, ended)


def damage_checkpoint(
    path: Path, rng: np.random.Generator, ways=("truncate", "empty", "flip", "garbage", "zeros")
) -> str:
    data = bytearray(path.read_bytes())
    how = str(rng.choice(ways))
    if how == "truncate":
        data = data[: int(rng.integers(0, len(data)))]
    elif how == "empty":
        data = bytearray()
    elif how == "flip":
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(0, len(data)))
            data[i] ^= 1 << int(rng.integers(0, 8))
    elif how == "garbage":
        data += rng.bytes(int(rng.integers(1, 100)))
    else:
        i = int(rng.integers(0, len(data) - 64))
        data[i : i + 64] = bytes(64)
    path.write_bytes(bytes(data))
    return how


@pytest.mark.parametrize("seed", seeds(1, 24))
def test_a_damaged_checkpoint_is_refused_or_harmless(ref, runner, seed):
    rng = np.random.default_rng([21, 12, seed])
    out = ref.case()
    kill = {"at": "checkpoint", "n": int(rng.integers(0, STEPS // EVERY - 1)), "signal": "SIGKILL"}
    runner.run("train", {"config": tiny_config().as_dict(), "out": str(out), "kill": kill})
    how = damage_checkpoint(out / "ckpt.pt", rng)
    with fh.judged("damaged checkpoint", f"{how} ckpt.pt after checkpoint {kill['n'] + 1}") as box:
        judge_resume(box, out, ref)
    assert box["outcome"] != "wrong", box


@pytest.mark.parametrize("seed", seeds(1, 12))
def test_a_full_disk_during_training_fails_cleanly(ref, runner, seed):
    rng = np.random.default_rng([21, 13, seed])
    out = ref.case()
    limit = int(np.exp(rng.uniform(np.log(500), np.log(200_000))))  # a checkpoint is ~40 kB
    spec = {"config": tiny_config().as_dict(), "out": str(out), "fsize": limit}
    ended = runner.run("train", spec)
    with fh.judged("full disk (training)", f"files limited to {limit} bytes") as box:
        status = ended.status or {}
        if not status.get("ok") and not status.get("clear"):
            box["detail"] = f"unclear error when the disk filled: {status}"
        elif judge_model_after_fault(box, out, ref):
            if (out / "ckpt.pt").exists():
                judge_resume(box, out, ref)
            else:
                shutil.rmtree(out, ignore_errors=True)
                box["outcome"] = "refused"
                result = train(tiny_config(), out, progress=False, log=None)
                if same_model(out, ref) or result.losses != ref.losses:
                    box["outcome"], box["detail"] = "wrong", "fresh run differs"
    assert box["outcome"] != "wrong", (box, ended)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_the_cli_resumes_a_killed_run_or_refuses_a_damaged_one(ref, runner, seed, tmp_path):
    rng = np.random.default_rng([21, 14, seed])
    out = ref.case()
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(tiny_config().as_dict()))
    args = ["train", "--out", str(out), "--config", str(config), "--no-progress"]
    kill = {"at": "checkpoint", "n": int(rng.integers(0, STEPS // EVERY - 1)), "signal": "SIGKILL"}
    runner.run("cli", {"args": args, "kill": kill})
    damaged = ""
    if seed % 2:  # the run's own config.json, which --resume reads (a flipped digit in a
        # text file still parses, and cannot be told from an edit: not injected)
        ways = ("truncate", "empty", "garbage")
        damaged = damage_checkpoint(out / "config.json", rng, ways) + " config.json"
    ended = runner.run("cli", {"args": ["train", "--out", str(out), "--resume", "--no-progress"]})
    with fh.judged("CLI train --resume", damaged or "SIGKILL after a checkpoint") as box:
        status = ended.status or {}
        if status.get("ok"):
            box["outcome"] = "equal" if same_model(out, ref) is None else "wrong"
            box["detail"] = "" if box["outcome"] == "equal" else str(same_model(out, ref))
        elif "exit 2: error:" in status.get("message", "") and "config.json" in status["message"]:
            box["outcome"], box["detail"] = "refused", status["message"][:200]
        else:
            box["detail"] = f"unclear: {status}"
    assert box["outcome"] != "wrong", (box, ended)


def test_the_reference_checkpoint_is_what_resuming_reads(ref):
    # the harness's premise: a finished run's checkpoint holds every step's loss
    ckpt = load_checkpoint(ref.root / "ref" / "ckpt.pt")
    assert ckpt.step == STEPS and ckpt.losses == ref.losses
