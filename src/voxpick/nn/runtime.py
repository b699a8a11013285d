"""Where a network runs on the CPU: ONNX Runtime when it is installed, else PyTorch.

PyTorch's CPU convolutions are slow for this U-Net: most of its 3D convolutions have few
channels, and PyTorch sends those to its reference (im2col) kernels. ONNX Runtime runs the same
network, with the same weights and float32 arithmetic, several times faster
(``docs/benchmarks.md``, "Locate stages"); its outputs match PyTorch's to about 1e-5
(``tests/nn/test_runtime.py``). :func:`block_runner` picks the runtime:

* a network on a CUDA device, or in training mode, runs in PyTorch (autocast applies);
* else, unless ``VOXPICK_CPU_RUNTIME=torch`` is set, in ONNX Runtime from the ``.onnx`` file
  shipped beside the weights (written by ``python -m bench.recipes.export_onnx``; it records the
  SHA-256 of the ``.pt`` it was made from and is ignored when that no longer matches), or from
  an in-memory export when the ``onnx`` package is installed; a session whose output on a random
  block differs from PyTorch's by more than :data:`AGREEMENT` is not used;
* else in PyTorch.

Sessions are cached by the network's weights (a digest of its state), so copies of a network
(a dask cluster unpickles one per task) share one session, and a network whose weights changed
(training updates them in place) gets a new one. ``intra_op_num_threads`` follows
``torch.get_num_threads()``; blocks located side by side (dask threads) take turns in the
network, which then uses every core, so the network's buffers are held for one block at a time.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

#: Environment variable that chooses the CPU runtime: ``onnxruntime`` (default) or ``torch``.
CPU_RUNTIME_ENV = "VOXPICK_CPU_RUNTIME"

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
MAX_SESSIONS = 2

_weights: dict[str, Path] = {}  # weights digest -> the .pt file they were loaded from
_sessions: OrderedDict[tuple[str, int], Any] = OrderedDict()
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
    """Return the CPU runtime in use: ``"onnxruntime"`` or ``"torch"``.

    ``"onnxruntime"`` when the package is installed and ``VOXPICK_CPU_RUNTIME`` is not
    ``torch``.

    Raises
    ------
    ValueError
        When ``VOXPICK_CPU_RUNTIME`` holds another value.
    """
    asked = os.environ.get(CPU_RUNTIME_ENV, "onnxruntime").strip().lower()
    if asked not in ("onnxruntime", "torch"):
        raise ValueError(
            f"{CPU_RUNTIME_ENV}={asked!r} is not a runtime: expected 'onnxruntime' (the default, "
            "used when installed) or 'torch'."
        )
    if asked == "torch" or importlib.util.find_spec("onnxruntime") is None:
        return "torch"
    return "onnxruntime"


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


def _session(data: bytes) -> Any:
    """Open an ONNX Runtime CPU session of a serialised model, with torch's thread count."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # a memory plan per input shape would be kept for every block shape met (edge blocks
    # differ): the arena grew to twice one block's needs on a tomogram; as fast without
    options.enable_mem_pattern = False
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _shipped_session(digest: str) -> Any | None:
    """Open the ``.onnx`` file beside the weights file these weights were loaded from."""
    pt = _weights.get(digest)
    if pt is None or not pt.with_suffix(".onnx").is_file():
        return None
    session = _session(pt.with_suffix(".onnx").read_bytes())
    made_from = session.get_modelmeta().custom_metadata_map.get(WEIGHTS_SHA_KEY)
    return session if made_from == weights_sha256(pt) else None


def _onnx_session(net: nn.Module) -> Any | None:
    """Return an ONNX Runtime session for ``net`` (cached), or None when none can be made."""
    digest = weights_digest(net)
    key = (digest, torch.get_num_threads())
    with _lock:
        if key in _sessions:
            _sessions.move_to_end(key)
            return _sessions[key]
        session = _shipped_session(digest)
        if session is None and importlib.util.find_spec("onnx") is not None:
            try:
                session = _session(export_onnx(net))
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
        got = session.run(None, {session.get_inputs()[0].name: x})[0]
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
    if dev.type == "cpu" and not net.training and cpu_runtime() == "onnxruntime":
        session = _onnx_session(net)
        if session is not None:
            name = session.get_inputs()[0].name

            def run_onnx(x: np.ndarray) -> np.ndarray:
                feed = {name: np.ascontiguousarray(x, dtype=np.float32)}
                with _run_lock:  # one block at a time: its threads use every core
                    out = session.run(None, feed)
                return np.asarray(out[0], dtype=np.float32)

            return run_onnx

    def run_torch(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            y = net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(dev))
            return y.float().cpu().numpy()

    return run_torch
