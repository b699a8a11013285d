"""bench.benchmarks.gpu runs anywhere: without CUDA it says so, measures nothing, exits 0.

Run as ``python -m bench.benchmarks.gpu`` from the repository root in a child process (as
tests/test_bench.py does), with CUDA hidden.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not (ROOT / "bench").is_dir(), reason="no bench/ here")


def test_gpu_benchmark_without_cuda_says_so_and_writes_nothing():
    doc = ROOT / "docs" / "benchmarks.md"
    before = doc.read_text() if doc.exists() else None
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.benchmarks.gpu"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no GPU" in proc.stdout
    assert (doc.read_text() if doc.exists() else None) == before
