"""The fault-injection suite's figures: faults injected, survived and wrong results.

Usage (from the repository root)::

    python -m bench.benchmarks.reliability [--quick]

Runs ``pytest tests/faults -m faults`` (every seed; ``--quick``: the CI subset only, and no
docs) in a fresh process, reads the summary it recorded (``VOXPICK_FAULTS_JSON``, written by
``fault_harness.Tally.summary``) and writes it between the ``faults`` markers of
docs/reliability.md: per family of faults, how many were injected, how many reruns equalled the
uninterrupted result exactly, how many refused with a clear message, and how many gave a wrong
result. Kills that arrived after the job had ended are not counted as faults.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from bench.common.paths import DOCS, ROOT
from bench.common.report import markdown_table

DOC = DOCS / "reliability.md"
START, END = "<!-- faults:start -->", "<!-- faults:end -->"


def write_doc(table: pd.DataFrame, *, seconds: float, command: str) -> None:
    """Replace the text between the markers of docs/reliability.md."""
    text = DOC.read_text()
    machine = f"{platform.machine()}, {os.cpu_count()} CPU threads"
    body = (
        f"{START}\nReproduce: `{command}` ({date.today().isoformat()}, {seconds / 60:.1f} min on "
        f"{machine})\n\n{markdown_table(table)}\n{END}"
    )
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{DOC} has no {START} ... {END} markers")
    DOC.write_text(pattern.sub(lambda _: body, text))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="the CI subset, not for docs")
    args = parser.parse_args()
    marker = "faults and not slow" if args.quick else "faults"
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "faults.json"
        cmd = [sys.executable, "-m", "pytest", "tests/faults", "-m", marker, "-q",
               "-p", "no:cacheprovider"]  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "VOXPICK_FAULTS_JSON": str(report)})
        seconds = time.perf_counter() - start
        data = json.loads(report.read_text()) if report.is_file() else {"summary": []}
    table = pd.DataFrame(data["summary"])  # per family, as the suite's own summary prints it
    print(markdown_table(table))
    print(f"{seconds:.0f} s; pytest exit status {done.returncode}")
    if not args.quick and len(table):
        write_doc(table, seconds=seconds, command="python -m bench.benchmarks.reliability")
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
