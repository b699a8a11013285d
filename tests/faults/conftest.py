"""Fault-injection suite: the marker, the fork server of the children, the summary table."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the harness is imported by name, also by the fork server
    sys.path.insert(0, str(HERE))

import fault_harness  # noqa: E402

#: With this set, the session's faults are written there as JSON (bench.benchmarks.reliability).
REPORT_ENV = "VOXPICK_FAULTS_JSON"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: fault-injection tests (quick ones in CI; all with `make test-faults`)"
    )


@pytest.fixture(scope="session")
def runner(tmp_path_factory: pytest.TempPathFactory) -> fault_harness.Runner:
    return fault_harness.Runner(tmp_path_factory.mktemp("children"))


@pytest.fixture(scope="session")
def tally() -> fault_harness.Tally:
    return fault_harness.TALLY


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    tally = fault_harness.TALLY
    if not tally.rows:
        return
    terminalreporter.section("fault injection")
    terminalreporter.write_line(fault_harness.markdown(tally.summary()))
    for row in tally.wrong():
        terminalreporter.write_line(f"WRONG {row['family']} {row['fault']}: {row['detail']}")
    path = os.environ.get(REPORT_ENV)
    if path:
        data = {"summary": tally.summary().to_dict(orient="records"), "faults": tally.rows}
        Path(path).write_text(json.dumps(data, indent=1) + "\n")
