"""Ship a picker together with its look-alike second stage, as one shipped model.

Usage (from the repository root)::

    python -m bench.recipes.install_refined_picker \\
        --picker bench/out/picker_v2/picker \\
        --refiner bench/out/czii_refiner/picker_v2_picker.json \\
        --name picker_czii_synthetic_v2
    python -m bench.recipes.export_onnx        # then the ONNX twin

The picker comes from ``bench/recipes/train_picker_default.py --clustered`` and the refiner
from ``bench/recipes/fit_czii_refiner.py`` (both on synthetic tomograms only). The weights are
copied to ``src/voxpick/nn/weights/NAME.pt``; ``NAME.json`` is the picker's description with the
refiner under ``classifier``, the thresholds chosen with the refiner on as ``thresholds`` (what
:func:`voxpick.cryoet.pick` uses by default) and the picker's own as ``network_thresholds``
(used with ``classifier=False``).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from bench.common.paths import WEIGHTS
from voxpick.cryoet import load_class_refiner, load_picker
from voxpick.io.atomic import atomic_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--picker", required=True, help="DIR/NAME of the trained picker")
    parser.add_argument("--refiner", required=True, help="its ClassRefiner JSON")
    parser.add_argument("--name", required=True, help="installed name")
    args = parser.parse_args()
    picker = load_picker(args.picker, device="cpu")
    refiner = load_class_refiner(args.refiner)
    names = [c.name for c in picker.classes]
    if list(refiner.classes) != names:
        raise SystemExit(f"the refiner's classes {refiner.classes} are not the picker's {names}")
    thresholds = refiner.info.get("thresholds")
    if not isinstance(thresholds, dict) or set(thresholds) != set(names):
        raise SystemExit("the refiner records no thresholds for every class (info.thresholds)")
    src = Path(args.picker)
    description = json.loads(src.with_suffix(".json").read_text())
    description.update(
        name=args.name,
        network_thresholds=description["thresholds"],
        thresholds={k: float(v) for k, v in thresholds.items()},
        classifier=refiner.as_dict(),
        classifier_from=args.refiner,
    )
    shutil.copyfile(src.with_suffix(".pt"), WEIGHTS / f"{args.name}.pt")
    with atomic_path(WEIGHTS / f"{args.name}.json") as tmp:
        tmp.write_text(json.dumps(description, indent=1))
    load_picker(args.name, device="cpu")  # the installed pair loads (weights' SHA-256 checked)
    print(f"installed {WEIGHTS / args.name}.pt/.json; now run python -m bench.recipes.export_onnx")


if __name__ == "__main__":
    main()
