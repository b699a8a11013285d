"""bench/ stays importable: every module imports, none touches sys.path, the seed split holds.

The modules are imported in one child process started from the repository root, as
``python -m bench...`` runs them, so that this test needs no change to ``sys.path`` either.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"

pytestmark = pytest.mark.skipif(not BENCH.is_dir(), reason="no bench/ in this checkout")

IMPORT_ALL = """
import importlib, json, pkgutil, traceback
import bench
names = ["bench"] + [m.name for m in pkgutil.walk_packages(bench.__path__, "bench.")]
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except BaseException:
        failed[name] = traceback.format_exc(limit=-3)
print(json.dumps({"imported": names, "failed": failed}))
"""


def module_names() -> set[str]:
    """Every module under bench/, from the files (without importing anything)."""
    names = set()
    for path in BENCH.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_bench_module_imports() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not report["failed"], "\n".join(
        f"{name}:\n{trace}" for name, trace in report["failed"].items()
    )
    # every folder is a package, so walk_packages reached every file
    assert set(report["imported"]) == module_names()


def test_no_bench_file_touches_sys_path() -> None:
    pattern = re.compile(r"sys\s*\.\s*path|addsitedir|PYTHONPATH")
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted(BENCH.rglob("*.py"))
        if pattern.search(path.read_text())
    ]
    assert not offenders


def test_seed_split_sets_are_disjoint() -> None:
    # loaded from its file: plain constants, no imports
    loader = importlib.util.spec_from_file_location("splits", BENCH / "common" / "splits.py")
    assert loader is not None and loader.loader is not None
    splits = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(splits)
    spec = vars(splits)
    # colloid volume sets drawn with numpy.random.default_rng(seed)
    colloids = [
        *spec["CALIBRATION_SEEDS"],
        spec["VAL_SEED"],
        spec["TEST_SEED"],
        spec["ACCURACY_REPORT_SEED"],
        spec["ACCURACY_CALIBRATION_SEED"],
        spec["REFINE_SEED"],
        spec["SIZE_LIMIT_SEED"],
    ]
    assert len(colloids) == len(set(colloids))
    tomograms = [
        set(spec[k]) for k in ("PICKER_TRAIN", "PICKER_VAL", "PICKER_TEST", "THRESHOLD_STUDY")
    ]
    assert sum(len(s) for s in tomograms) == len(set().union(*tomograms))
    deepfinder = [
        set(spec[k]) for k in ("DEEPFINDER_TRAIN", "DEEPFINDER_VALIDATION", "DEEPFINDER_TEST")
    ]
    assert sum(len(s) for s in deepfinder) == len(set().union(*deepfinder))
    czii = set(spec["CZII_CHOOSE_FOLDS"]), set(spec["CZII_REPORT_FOLDS"])
    assert not czii[0] & czii[1] and czii[0] | czii[1] == set(range(7))
