"""The CPU runtime: ONNX Runtime stands in for PyTorch only where it gives the same answer."""

import copy
import json

import numpy as np
import pytest
import torch

from voxpick import locate
from voxpick.ml import load_model
from voxpick.ml.infer import predict_heatmap
from voxpick.nn import runtime
from voxpick.nn.store import WEIGHTS_DIR
from voxpick.simulate import simulate_volume

ort = pytest.importorskip("onnxruntime")


def torch_output(net, x):
    with torch.inference_mode():
        return net(torch.from_numpy(x)).numpy()


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


def test_onnx_runtime_matches_pytorch_on_the_shipped_model(monkeypatch):
    model = load_model(device="cpu")
    monkeypatch.delenv(runtime.CPU_RUNTIME_ENV, raising=False)
    assert runtime.cpu_runtime() == "onnxruntime"
    x = np.random.default_rng(1).random((1, 1, 40, 48, 64), dtype=np.float32)
    got = runtime.block_runner(model.net, model.device)(x)
    want = torch_output(model.net, x)
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1e-4
    # the shipped twin runs it (an in-memory export records no weights file), also for a copy
    session = runtime._onnx_session(copy.deepcopy(model.net))
    made_from = session.get_modelmeta().custom_metadata_map[runtime.WEIGHTS_SHA_KEY]
    assert made_from == runtime.weights_sha256(WEIGHTS_DIR / "unet_colloids_v1.pt")


def test_detections_are_the_same_in_both_runtimes(monkeypatch):
    sim = simulate_volume(64, radius=4, volfrac=0.4, snr=6, cnr=4, particle_size=0.3, rng=3)
    found = {}
    for name in ("onnxruntime", "torch"):
        monkeypatch.setenv(runtime.CPU_RUNTIME_ENV, name)
        found[name] = locate(sim.volume, diameter=8, method="unet", device="cpu")
    a, b = found["onnxruntime"], found["torch"]
    assert len(a) == len(b) > 100
    a = a.sort_values(["z", "y", "x"]).reset_index(drop=True)
    b = b.sort_values(["z", "y", "x"]).reset_index(drop=True)
    assert np.abs(a[["z", "y", "x"]].to_numpy() - b[["z", "y", "x"]].to_numpy()).max() < 1e-3
    assert np.abs(a["score"].to_numpy() - b["score"].to_numpy()).max() < 1e-4


def test_a_retrained_network_is_not_run_from_its_stale_twin(monkeypatch):
    monkeypatch.delenv(runtime.CPU_RUNTIME_ENV, raising=False)
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
    monkeypatch.setenv(runtime.CPU_RUNTIME_ENV, "onnxruntime")
    with_ort = predict_heatmap(image, model)
    assert np.abs(with_torch - with_ort).max() < 1e-4
    model.net.train()  # batch norm would use batch statistics: PyTorch runs it as it is
    assert runtime.block_runner(model.net, model.device).__name__ == "run_torch"
    model.net.eval()
    monkeypatch.setenv(runtime.CPU_RUNTIME_ENV, "tensorrt")
    with pytest.raises(ValueError, match="VOXPICK_CPU_RUNTIME='tensorrt'"):
        runtime.cpu_runtime()


def test_the_twin_records_the_weights_it_was_made_from():
    info = json.loads((WEIGHTS_DIR / "unet_colloids_v1.json").read_text())
    assert info["format"] == "voxpick-unet-heatmap"
    twin = ort.InferenceSession(str(WEIGHTS_DIR / "unet_colloids_v1.onnx"))
    assert [i.name for i in twin.get_inputs()] == ["x"]
    shape = twin.get_inputs()[0].shape
    assert shape[1] == 1 and all(isinstance(d, str) for d in (shape[0], *shape[2:]))
