"""The CPU runtimes: OpenVINO and ONNX Runtime stand in for PyTorch only where they agree."""

import copy
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from voxpick import locate
from voxpick.ml import load_model
from voxpick.ml.infer import predict_heatmap
from voxpick.ml.store import DEFAULT_MODEL
from voxpick.nn import runtime
from voxpick.nn.store import WEIGHTS_DIR
from voxpick.simulate import simulate_volume

ort = pytest.importorskip("onnxruntime")

#: The compiled runtimes installed here (each test runs for every one of them).
INSTALLED = [
    name for name in runtime.CPU_RUNTIMES[:-1] if importlib.util.find_spec(name) is not None
]


def torch_output(net, x):
    with torch.inference_mode():
        return net(torch.from_numpy(x)).numpy()


@pytest.fixture
def openvino_runner(monkeypatch):
    """The shipped model and its block runner in OpenVINO (skipped when it is not installed)."""
    if "openvino" not in INSTALLED:
        pytest.skip("OpenVINO is not installed")
    monkeypatch.setenv(runtime.CPU_RUNTIME_ENV, "openvino")
    model = load_model(device="cpu")
    return model, runtime.block_runner(model.net, model.device)


def test_every_shipped_network_has_an_up_to_date_onnx_twin():
    shipped = sorted(WEIGHTS_DIR.glob("*.pt"))
    assert shipped
    for pt in shipped:
        twin = pt.with_suffix(".onnx")
        assert twin.is_file(), f"{twin.name} missing: run python -m bench.recipes.export_onnx"
        meta = ort.InferenceSession(str(twin)).get_modelmeta().custom_metadata_map
        assert meta.get(runtime.WEIGHTS_SHA_KEY) == runtime.weights_sha256(pt), (
            f"{twin.name} was made from other weights: run python -m bench.recipes.export_onnx"
        )


def test_the_default_runtime_is_the_first_installed(monkeypatch):
    monkeypatch.delenv(runtime.CPU_RUNTIME_ENV, raising=False)
    assert runtime.cpu_runtime() == INSTALLED[0]
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name)
    )
    assert runtime.cpu_runtime() == "onnxruntime"
    monkeypatch.setenv(runtime.CPU_RUNTIME_ENV, "openvino")  # named but missing: the next one
    assert runtime.cpu_runtime() == "onnxruntime"


@pytest.mark.parametrize("kind", INSTALLED)
def test_each_runtime_matches_pytorch_on_the_shipped_model(monkeypatch, kind):
    model = load_model(device="cpu")
    monkeypatch.setenv(runtime.CPU_RUNTIME_ENV, kind)
    assert runtime.cpu_runtime() == kind
    x = np.random.default_rng(1).random((1, 1, 40, 48, 64), dtype=np.float32)
    got = runtime.block_runner(model.net, model.device)(x)
    want = torch_output(model.net, x)
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1e-4
    # the shipped twin runs it (an in-memory export records no weights file), also for a copy
    session = runtime._onnx_session(copy.deepcopy(model.net), kind)
    assert session.made_from() == runtime.weights_sha256(WEIGHTS_DIR / f"{DEFAULT_MODEL}.pt")


def test_openvino_keeps_a_few_block_shapes_and_answers_for_each(openvino_runner):
    model, run = openvino_runner
    rng = np.random.default_rng(4)
    shapes = [(1, 1, 16, 16, 16 + 8 * i) for i in range(runtime.MAX_SHAPES + 2)]
    for shape in shapes + shapes[:2]:  # every shape again after it was dropped
        x = rng.random(shape, dtype=np.float32)
        assert np.abs(run(x) - torch_output(model.net, x)).max() < 1e-4
    session = runtime._onnx_session(model.net, "openvino")
    assert len(session.compiled) == runtime.MAX_SHAPES
    assert list(session.compiled)[-1] == shapes[1]


def test_openvino_frees_a_shape_s_buffers_when_another_runs(openvino_runner, monkeypatch):
    # edge blocks of a tiled volume alternate between a few shapes: only the shape running
    # keeps its buffers, else a 1024^3 volume held 8 windows' buffers (9 GB) at once
    model, run = openvino_runner
    session = runtime._onnx_session(model.net, "openvino")
    a, b = (np.zeros((1, 1, 16, 16, n), np.float32) for n in (16, 24))
    run(a)
    freed = []
    real = runtime._OpenVinoSession.release
    monkeypatch.setattr(
        runtime._OpenVinoSession, "release", lambda self: freed.append(self) or real(self)
    )
    for x in (a, a, b, a, b, b):
        run(x)
    assert len(freed) == 3  # at each change of shape, not on repeats
    assert all(s is session for s in freed)


def test_detections_are_the_same_in_every_runtime(monkeypatch):
    sim = simulate_volume(64, radius=4, volfrac=0.4, snr=6, cnr=4, particle_size=0.3, rng=3)
    found = {}
    for name in [*INSTALLED, "torch"]:
        monkeypatch.setenv(runtime.CPU_RUNTIME_ENV, name)
        found[name] = locate(sim.volume, diameter=8, method="unet", device="cpu")
    b = found.pop("torch").sort_values(["z", "y", "x"]).reset_index(drop=True)
    for a in found.values():
        assert len(a) == len(b) > 100
        a = a.sort_values(["z", "y", "x"]).reset_index(drop=True)
        assert np.abs(a[["z", "y", "x"]].to_numpy() - b[["z", "y", "x"]].to_numpy()).max() < 1e-3
        assert np.abs(a["score"].to_numpy() - b["score"].to_numpy()).max() < 1e-4


@pytest.mark.parametrize("kind", INSTALLED)
def test_a_retrained_network_is_not_run_from_its_stale_twin(monkeypatch, kind):
    monkeypatch.setenv(runtime.CPU_RUNTIME_ENV, kind)
    model = load_model(device="cpu")  # a fresh network, not the cached one
    x = np.random.default_rng(2).random((1, 1, 32, 32, 32), dtype=np.float32)
    before = runtime.block_runner(model.net, model.device)(x)
    with torch.no_grad():
        for p in model.net.parameters():
            p.mul_(1.05)  # what an optimiser step does: in place
    after = runtime.block_runner(model.net, model.device)(x)
    want = torch_output(model.net, x)
    assert np.abs(after - want).max() < 1e-4
    assert np.abs(after - before).max() > 1e-2


def test_training_mode_and_the_environment_choose_pytorch(monkeypatch):
    model = load_model(device="cpu")
    monkeypatch.setenv(runtime.CPU_RUNTIME_ENV, "torch")
    assert runtime.cpu_runtime() == "torch"
    image = np.random.default_rng(3).random((24, 24, 24), dtype=np.float32)
    with_torch = predict_heatmap(image, model)
    for kind in INSTALLED:
        monkeypatch.setenv(runtime.CPU_RUNTIME_ENV, kind)
        assert np.abs(with_torch - predict_heatmap(image, model)).max() < 1e-4
    model.net.train()  # batch norm would use batch statistics: PyTorch runs it as it is
    assert runtime.block_runner(model.net, model.device).__name__ == "run_torch"
    model.net.eval()
    monkeypatch.setenv(runtime.CPU_RUNTIME_ENV, "tensorrt")
    with pytest.raises(ValueError, match="VOXPICK_CPU_RUNTIME='tensorrt' is not a runtime"):
        runtime.cpu_runtime()


def test_the_twin_records_the_weights_it_was_made_from():
    info = json.loads((WEIGHTS_DIR / "unet_colloids_v1.json").read_text())
    assert info["format"] == "voxpick-unet-heatmap"
    twin = ort.InferenceSession(str(WEIGHTS_DIR / "unet_colloids_v1.onnx"))
    assert [i.name for i in twin.get_inputs()] == ["x"]
    shape = twin.get_inputs()[0].shape
    assert shape[1] == 1 and all(isinstance(d, str) for d in (shape[0], *shape[2:]))


@pytest.mark.skipif("openvino" not in INSTALLED, reason="OpenVINO is not installed")
def test_openvino_runs_without_its_usage_telemetry(tmp_path):
    # OpenVINO's import sends a usage event and writes a client ID under ~/intel unless told
    # not to: a fresh process that locates with it leaves the home folder untouched
    script = (
        "import numpy as np, sys\n"
        "from voxpick import locate\n"
        "v = np.random.default_rng(0).random((32, 32, 32), dtype=np.float32)\n"
        "locate(v, diameter=8, method='unet')\n"
        "import openvino.tools.ovc.telemetry_utils as t\n"
        "print(t.tm.__name__, 'openvino_telemetry' in sys.modules)\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "VOXPICK_CPU_RUNTIME": "openvino"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["openvino.tools.ovc.telemetry_stub", "False"]
    assert not (tmp_path / "intel").exists()


def test_openvino_outputs_are_the_caller_s_to_keep(openvino_runner):
    # OpenVINO writes each output into a fresh array: a later block of the same shape must not
    # overwrite the output the caller still holds
    model, run = openvino_runner
    rng = np.random.default_rng(5)
    first_in, second_in = (rng.random((1, 1, 24, 24, 24), dtype=np.float32) for _ in range(2))
    first = run(first_in)
    kept = first.copy()
    second = run(second_in)
    assert second is not first and not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, kept)
    assert np.abs(second - torch_output(model.net, second_in)).max() < 1e-4
