"""The CZII-layout benchmark's refiner variants: picker and thresholds read from the JSON."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from voxpick.cryoet import ClassRefiner, PickerModel, load_picker

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = "picker_czii_synthetic_v1"

pytestmark = pytest.mark.skipif(not (ROOT / "bench").is_dir(), reason="no bench/ here")


@pytest.fixture(scope="module")
def layouts() -> ModuleType:
    """``bench.benchmarks.cryoet_layouts``, imported from the repository root."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT))
        return importlib.import_module("bench.benchmarks.cryoet_layouts")


@pytest.fixture(scope="module")
def picker() -> PickerModel:
    return load_picker(SHIPPED, device="cpu")


def refiner_file(path: Path, model: PickerModel, info: dict[str, Any]) -> Path:
    names = tuple(c.name for c in model.classes)
    k, d = len(names), 4
    refiner = ClassRefiner(
        classes=names, radius=7.0, mean=np.zeros(d), scale=np.ones(d),
        weights=np.zeros((d + 1, k)), info=info,
    )  # fmt: skip
    return refiner.save(path)


def test_refiner_variant_uses_its_picker_and_thresholds(
    tmp_path: Path, picker: PickerModel, layouts: ModuleType
) -> None:
    thr = {c.name: 0.123 for c in picker.classes}
    path = refiner_file(tmp_path / "r.json", picker, {"picker": SHIPPED, "thresholds": thr})
    models = {SHIPPED: picker}
    name, variant = layouts.refiner_variant(str(path), models)
    assert name == f"{SHIPPED} + refiner"
    assert variant.picker is picker  # reused, not loaded again
    assert variant.thresholds == thr
    bare = layouts.Variant(picker)
    assert bare.thresholds is None
    # results of the bare picker and of each refined variant are cached apart
    assert layouts.picker_key(bare) != layouts.picker_key(variant)
    info = {"picker": SHIPPED, "thresholds": {**thr, "ribosome": 0.2}}
    other = layouts.refiner_variant(str(refiner_file(tmp_path / "o.json", picker, info)), models)
    assert layouts.picker_key(other[1]) != layouts.picker_key(variant)


def test_refiner_without_thresholds_is_refused(
    tmp_path: Path, picker: PickerModel, layouts: ModuleType
) -> None:
    path = refiner_file(tmp_path / "r.json", picker, {"picker": SHIPPED})
    with pytest.raises(SystemExit, match="fit_czii_refiner"):
        layouts.refiner_variant(str(path), {SHIPPED: picker})
