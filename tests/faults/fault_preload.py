"""Imported once by the fork server of the fault tests: load and warm up what the jobs use.

Every child is forked from that server, so it starts with voxpick, dask, zarr, pyarrow and
PyTorch imported and the numba functions of the simulator loaded: a job then takes about as
long as it would inside a running program, and a kill at a random time lands in the job, not
in the imports. The warm-up stays on one thread (no thread pools exist when the server forks).
"""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path


def _warm_up() -> None:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    import voxpick
    from voxpick.ml import ModelSpec, TrainConfig, train
    from voxpick.ml.data import SampleRanges

    with tempfile.TemporaryDirectory() as tmp:
        vol = np.random.default_rng(0).normal(100, 10, (24, 24, 24)).astype(np.float32)
        voxpick.locate(vol, diameter=6, method="classical", out=Path(tmp) / "p.parquet")
        cfg = TrainConfig(
            steps=1, batch_size=1, patch=16, pool_size=1, pool_volume=16, warmup=1, threads=1,
            device="cpu", model=ModelSpec(channels=(4, 8), strides=(2,), num_res_units=0),
            ranges=SampleRanges(radius=(3.0, 4.0), volfrac=(0.2, 0.4), p_dense=0.0, p_zstep=0.0),
        )  # fmt: skip
        train(cfg, Path(tmp) / "run", progress=False, log=None)


try:
    for name in ("dask", "pyarrow", "zarr", "voxpick.api", "voxpick.tiling.chunked"):
        importlib.import_module(name)
    _warm_up()
except Exception:  # a cold child is slower, not wrong
    pass
