"""Where a network runs on the CPU: OpenVINO or ONNX Runtime when installed, else PyTorch.

PyTorch's CPU convolutions are slow for this U-Net: most of its 3D convolutions have few
channels, and PyTorch sends those to its reference (im2col) kernels. OpenVINO and ONNX Runtime
run the same network, with the same weights and float32 arithmetic, several times faster
(``docs/benchmarks.md``, "Locate speed" and "CPU runtimes"); their outputs match PyTorch's to
about 1e-5 (``tests/nn/test_runtime.py``). :func:`block_runner` picks the runtime:

* a network on a CUDA device, or in training mode, runs in PyTorch (autocast applies);
* else the runtime :func:`cpu_runtime` names (``VOXPICK_CPU_RUNTIME``: ``openvino``, the
  default, ``onnxruntime`` or ``torch``), from the ``.onnx`` file shipped beside the weights
  (written by ``python -m bench.recipes.export_onnx``; it records the SHA-256 of the ``.pt`` it
  was made from and is ignored when that no longer matches), or from an in-memory export when
  the ``onnx`` package is installed; a session whose output on a random block differs from
  PyTorch's by more than :data:`AGREEMENT` is not used;
* else in PyTorch.

OpenVINO compiles the network once per block shape (float32 precision asked for explicitly: on
CPUs with bfloat16 units it would otherwise lower the precision) and keeps the last
:data:`MAX_SHAPES` compiled; only the shape and the session used last keep their buffers. It
writes each output straight into a new array (no copy of OpenVINO's own buffer).
Sessions are cached by the network's weights (a digest of its state), so copies of a network (a
dask cluster unpickles one per task) share one session, and a network whose weights changed
(training updates them in place) gets a new one. The thread count follows
``torch.get_num_threads()``; blocks located side by side (dask threads) take turns in the
network, which then uses every core, so the network's buffers are held for one block at a time.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import os
import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

#: Environment variable that chooses the CPU runtime: ``openvino`` (default), ``onnxruntime``
#: or ``torch``.
CPU_RUNTIME_ENV = "VOXPICK_CPU_RUNTIME"

#: The CPU runtimes, in the order tried when the environment names none.
CPU_RUNTIMES = ("openvino", "onnxruntime", "torch")

#: Compiled block shapes an OpenVINO session keeps (edge blocks of a tiled volume differ, and
#: ``scales="tta"`` runs three scales).
MAX_SHAPES = 8

#: ONNX metadata key holding the SHA-256 of the ``.pt`` weights an ``.onnx`` file was made from.
WEIGHTS_SHA_KEY = "voxpick_weights_sha256"

#: Largest difference between ONNX Runtime's and PyTorch's outputs on a random block at which a
#: session is used (measured: about 2e-6 on the colloid U-Net's logits, 2e-5 on the picker's).
AGREEMENT = 1e-3

#: ONNX opset of the exported networks.
OPSET = 17

#: A block runner: ``(B, 1, Z, Y, X)`` float32 in, ``(B, C, Z, Y, X)`` float32 out.
Runner = Callable[[np.ndarray], np.ndarray]

#: Sessions kept per process (by weights and thread count), least recently used dropped.
MAX_SESSIONS = 4

_weights: dict[str, Path] = {}  # weights digest -> the .pt file they were loaded from
_sessions: OrderedDict[tuple[str, int, str], Any] = OrderedDict()
_lock = threading.Lock()
_run_lock = threading.Lock()


def remember_weights(net: nn.Module, pt: str | os.PathLike[str]) -> None:
    """Record that ``net``'s weights are those of ``pt`` (its ``.onnx`` sibling may stand in).

    The record is by content (:func:`weights_digest`): it also serves copies of ``net`` (such as
    those a dask cluster unpickles in each task) and no longer applies once the weights change.

    Parameters
    ----------
    net : torch.nn.Module
        A network just loaded from ``pt``.
    pt : str or os.PathLike
        The weights file.
    """
    _weights[weights_digest(net)] = Path(pt)


def cpu_runtime() -> str:
    """Return the CPU runtime in use: ``"openvino"``, ``"onnxruntime"`` or ``"torch"``.

    ``VOXPICK_CPU_RUNTIME`` names one; unset, the first of :data:`CPU_RUNTIMES` that is
    installed. A named runtime that is not installed gives the next installed one.

    Raises
    ------
    ValueError
        When ``VOXPICK_CPU_RUNTIME`` holds another value.
    """
    asked = os.environ.get(CPU_RUNTIME_ENV, "").strip().lower()
    if asked and asked not in CPU_RUNTIMES:
        raise ValueError(
            f"{CPU_RUNTIME_ENV}={asked!r} is not a runtime: expected one of {CPU_RUNTIMES} "
            "(unset: the first installed)."
        )
    order = CPU_RUNTIMES[CPU_RUNTIMES.index(asked) :] if asked else CPU_RUNTIMES
    for name in order[:-1]:
        if importlib.util.find_spec(name) is not None:
            return name
    return "torch"


@functools.lru_cache(maxsize=16)
def _file_sha256(path: Path, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file (hex), cached while its size and modification time are unchanged."""
    p = Path(path)
    st = p.stat()
    return _file_sha256(p, st.st_mtime_ns, st.st_size)


def weights_digest(net: nn.Module) -> str:
    """SHA-256 of a network's class and state (every parameter and buffer, names and bytes)."""
    digest = hashlib.sha256(type(net).__qualname__.encode())
    for name, tensor in net.state_dict().items():
        t = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{t.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def export_onnx(net: nn.Module, *, weights: str | os.PathLike[str] | None = None) -> bytes:
    """Export the network as an ONNX model (float32; batch and spatial axes dynamic).

    Parameters
    ----------
    net : torch.nn.Module
        A fully convolutional network, ``(B, 1, Z, Y, X)`` to ``(B, C, Z, Y, X)``.
    weights : str or os.PathLike, optional
        The ``.pt`` file ``net`` was loaded from; its SHA-256 is recorded in the model's
        metadata so that a stale ``.onnx`` file is recognised.

    Returns
    -------
    bytes
        The serialised model. Needs the ``onnx`` package.
    """
    import onnx

    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    example = torch.zeros((1, 1, 16, 16, 16), dtype=torch.float32, device=device)
    buf = io.BytesIO()
    axes = {0: "batch", 2: "z", 3: "y", 4: "x"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(  # a file object works (the stub says path only)
                net, (example,), buf,  # type: ignore[arg-type]
                input_names=["x"], output_names=["y"],
                dynamic_axes={"x": axes, "y": axes}, opset_version=OPSET, dynamo=False,
            )  # fmt: skip
    finally:
        net.train(was_training)
    model = onnx.load_from_string(buf.getvalue())
    if weights is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = WEIGHTS_SHA_KEY, weights_sha256(weights)
    return bytes(model.SerializeToString())


class _OrtSession:
    """An ONNX Runtime CPU session of a serialised model, with torch's thread count."""

    def __init__(self, data: bytes) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # a memory plan per input shape would be kept for every block shape met (edge blocks
        # differ): the arena grew to twice one block's needs on a tomogram; as fast without
        options.enable_mem_pattern = False
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def made_from(self) -> str | None:
        meta = self.session.get_modelmeta().custom_metadata_map
        return meta.get(WEIGHTS_SHA_KEY)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(None, {self.input: x})[0], dtype=np.float32)


def import_openvino() -> Any:
    """Import OpenVINO with its usage telemetry off.

    On import, OpenVINO's model-conversion tools send a usage event to Google Analytics and
    write a client ID under ``~/intel`` unless the user has opted out; a library that runs on
    lab machines must not. When OpenVINO is not imported yet, it is imported with its
    ``openvino_telemetry`` dependency hidden, so that OpenVINO falls back to its own no-op
    stub; nothing else changes (``openvino_telemetry`` itself stays importable).

    Returns
    -------
    module
        The ``openvino`` package.
    """
    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    hide = "openvino_telemetry" not in sys.modules
    if hide:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]
    try:
        import openvino
    finally:
        if hide and sys.modules.get("openvino_telemetry", 0) is None:
            del sys.modules["openvino_telemetry"]
    return openvino


class _OpenVinoSession:
    """An OpenVINO CPU model of a serialised ONNX model, compiled per input shape."""

    def __init__(self, data: bytes) -> None:
        ov = import_openvino()
        self.ov = ov
        self.core = ov.Core()
        self.model = self.core.read_model(data, ov.Tensor(np.empty(0, dtype=np.uint8)))
        self.config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": torch.get_num_threads(),
            "INFERENCE_PRECISION_HINT": "f32",
        }
        self.compiled: OrderedDict[tuple[int, ...], Any] = OrderedDict()

    def made_from(self) -> str | None:
        info = self.model.get_rt_info()
        try:
            return str(info["framework"][WEIGHTS_SHA_KEY].astype(str))
        except (KeyError, RuntimeError):
            return None

    def release(self) -> None:
        """Free the buffers of the shape used last (its compiled graph stays)."""
        if self.compiled:
            next(reversed(self.compiled.values())).get_compiled_model().release_memory()

    def _request(self, shape: tuple[int, ...]) -> Any:
        if self.compiled and next(reversed(self.compiled)) != shape:
            self.release()  # the previous shape's buffers go, whether this one is compiled or not
        if shape in self.compiled:
            self.compiled.move_to_end(shape)
            return self.compiled[shape]
        model = self.model.clone()
        model.reshape({0: list(shape)})
        request = self.core.compile_model(model, "CPU", self.config).create_infer_request()
        self.compiled[shape] = request
        while len(self.compiled) > MAX_SHAPES:
            self.compiled.popitem(last=False)
        return request

    def __call__(self, x: np.ndarray) -> np.ndarray:
        global _last_openvino
        if _last_openvino is not None and _last_openvino is not self:
            _last_openvino.release()  # one session at a time holds buffers
        _last_openvino = self
        request = self._request(tuple(int(n) for n in x.shape))
        out = np.empty(tuple(request.get_output_tensor(0).shape), dtype=np.float32)
        request.set_output_tensor(0, self.ov.Tensor(out, shared_memory=True))  # written in place
        request.infer({0: x}, share_inputs=True)
        return out


_last_openvino: _OpenVinoSession | None = None


def _session(data: bytes, kind: str) -> Any:
    """Open a CPU session of a serialised ONNX model in runtime ``kind``."""
    return _OpenVinoSession(data) if kind == "openvino" else _OrtSession(data)


def _shipped_session(digest: str, kind: str) -> Any | None:
    """Open the ``.onnx`` file beside the weights file these weights were loaded from."""
    pt = _weights.get(digest)
    if pt is None or not pt.with_suffix(".onnx").is_file():
        return None
    session = _session(pt.with_suffix(".onnx").read_bytes(), kind)
    return session if session.made_from() == weights_sha256(pt) else None


def _onnx_session(net: nn.Module, kind: str | None = None) -> Any | None:
    """Return a CPU session for ``net`` in runtime ``kind`` (cached), or None when none works.

    ``kind`` defaults to :func:`cpu_runtime`'s (``"torch"`` gives None).
    """
    kind = cpu_runtime() if kind is None else kind
    if kind == "torch":
        return None
    digest = weights_digest(net)
    key = (digest, torch.get_num_threads(), kind)
    with _lock:
        if key in _sessions:
            _sessions.move_to_end(key)
            return _sessions[key]
        session = _shipped_session(digest, kind)
        if session is None and importlib.util.find_spec("onnx") is not None:
            try:
                session = _session(export_onnx(net), kind)
            except Exception:  # an architecture the exporter cannot handle: PyTorch runs it
                session = None
        if session is not None and not _agrees(session, net):
            session = None
        _sessions[key] = session
        while len(_sessions) > MAX_SESSIONS:
            _sessions.popitem(last=False)
        return session


def _agrees(session: Any, net: nn.Module) -> bool:
    """Whether the session's output matches PyTorch's on a random block, within tolerance."""
    x = np.random.default_rng(0).random((1, 1, 32, 32, 32), dtype=np.float32)
    device = next(net.parameters()).device
    try:
        with torch.inference_mode():
            want = net(torch.from_numpy(x).to(device)).float().cpu().numpy()
        with _run_lock:
            got = session(x)
    except Exception:  # e.g. a network whose blocks must be multiples of 64: PyTorch runs it
        return False
    return got.shape == want.shape and bool(np.abs(got - want).max() <= AGREEMENT)


def block_runner(net: nn.Module, device: torch.device) -> Runner:
    """Return a function that runs ``net`` on a batch of blocks, in the runtime chosen above.

    Parameters
    ----------
    net : torch.nn.Module
        Network mapping ``(B, 1, Z, Y, X)`` to ``(B, C, Z, Y, X)``.
    device : torch.device
        Where ``net`` lives.

    Returns
    -------
    callable
        ``run(x)``: float32 numpy in, float32 numpy out.
    """
    dev = torch.device(device)
    if dev.type == "cpu" and not net.training:
        session = _onnx_session(net)
        if session is not None:

            def run_onnx(x: np.ndarray) -> np.ndarray:
                block = np.ascontiguousarray(x, dtype=np.float32)
                with _run_lock:  # one block at a time: its threads use every core
                    return session(block)

            return run_onnx

    def run_torch(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            y = net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(dev))
            return y.float().cpu().numpy()

    return run_torch
