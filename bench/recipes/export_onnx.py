"""Write the ``.onnx`` twin of every shipped network, for ONNX Runtime on the CPU.

Usage (from the repository root; needs the ``onnx`` package)::

    python -m bench.recipes.export_onnx            # every shipped .pt in src/voxpick/nn/weights
    python -m bench.recipes.export_onnx --check    # only check that each twin is up to date

Each ``NAME.pt`` gets ``NAME.onnx`` (float32, batch and spatial axes dynamic), with the SHA-256
of the ``.pt`` in its metadata: :mod:`voxpick.nn.runtime` ignores a twin whose ``.pt`` has
changed since, so rerun this after retraining a shipped model (``tests/nn/test_runtime.py``
fails until then). The twin's outputs are checked against PyTorch's before it is written.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from bench.common.paths import WEIGHTS
from voxpick.cryoet import load_picker
from voxpick.ml import load_model
from voxpick.nn.runtime import WEIGHTS_SHA_KEY, export_onnx, weights_sha256

#: Largest difference of logits between ONNX Runtime and PyTorch accepted on a random input.
TOLERANCE = 1e-4


def _load(pt_name: str) -> torch.nn.Module:
    if pt_name.startswith("picker_"):
        return load_picker(pt_name, device="cpu").net
    return load_model(pt_name, device="cpu").net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="check the twins, write nothing")
    args = parser.parse_args()
    import onnx
    import onnxruntime as ort

    stale = []
    for pt in sorted(WEIGHTS.glob("*.pt")):
        twin = pt.with_suffix(".onnx")
        if args.check:
            made_from = None
            if twin.is_file():
                meta = onnx.load(str(twin), load_external_data=False).metadata_props
                made_from = {p.key: p.value for p in meta}.get(WEIGHTS_SHA_KEY)
            ok = made_from == weights_sha256(pt)
            print(f"{twin.name}: {'up to date' if ok else 'MISSING OR STALE'}")
            stale += [] if ok else [twin.name]
            continue
        net = _load(pt.stem)
        data = export_onnx(net, weights=pt)
        x = np.random.default_rng(0).random((1, 1, 40, 48, 56), dtype=np.float32)
        with torch.inference_mode():
            want = net(torch.from_numpy(x)).numpy()
        got = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        diff = float(np.abs(got - want).max())
        if diff > TOLERANCE:
            sys.exit(f"{pt.name}: ONNX Runtime differs from PyTorch by {diff:.2e}; not written")
        tmp = twin.with_suffix(".onnx.part")
        tmp.write_bytes(data)
        tmp.replace(twin)
        print(f"wrote {twin} ({len(data) / 2**20:.1f} MiB; max |ORT - torch| {diff:.1e})")
    if stale:
        sys.exit(f"stale: {stale}; run python -m bench.recipes.export_onnx")


if __name__ == "__main__":
    main()
