"""Fit the look-alike second stage for a CZII picker on synthetic tomograms only.

Usage (from the repository root)::

    python -m bench.recipes.fit_czii_refiner --picker picker_czii_synthetic_v1
    python -m bench.recipes.fit_czii_refiner --picker bench/out/picker_v2/picker --clustered-val
    python -m bench.recipes.fit_czii_refiner --quick   # 2 + 1 + 1 tomograms; writes nothing

A :class:`voxpick.cryoet.ClassRefiner` (:func:`voxpick.cryoet.fit_class_refiner`) is fitted on
the picker's training seeds (``PICKER_TRAIN``, clustered layouts: touching same-class particles
are where ribosome and thyroglobulin get confused), its combination weights and the per-class
thresholds with the refiner on (:func:`voxpick.cryoet.choose_thresholds`, F-beta 4) on the
validation seeds (``PICKER_VAL``; random layouts as ``picker_czii_synthetic_v1`` was tuned, or
clustered with ``--clustered-val`` as the clustered candidate was). The random-layout test set
(``PICKER_TEST``) is scored with the picker alone (its saved thresholds) and with the refiner.
No CZII-layout tomogram is used. The refiner is written as one JSON with the picker's name and
the chosen thresholds in its ``info`` (``bench/benchmarks/cryoet_layouts.py --refiners``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from bench.common.paths import OUT
from bench.common.splits import PICKER_TEST, PICKER_TRAIN, PICKER_VAL
from bench.common.synthetic_tomograms import VOXEL_A, tomogram
from voxpick.cryoet import ClassRefiner, choose_thresholds, fit_class_refiner, load_picker, pick
from voxpick.io.czii_csv import picks_to_angstrom
from voxpick.metrics.czii import czii_score


def picks_and_truth(
    picker: object, seeds: range, thresholds: object, refiner: ClassRefiner | None, clustered: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Picks and truth (Angstrom, ``experiment`` column) of synthetic tomograms ``seeds``."""
    found, truth = [], []
    for s in seeds:
        vol, t = tomogram(s, clustered=clustered)
        p = pick(vol, model=picker, thresholds=thresholds, classifier=refiner)  # type: ignore[arg-type]
        found.append(picks_to_angstrom(p, voxel_size=VOXEL_A).assign(experiment=f"s{s}"))
        truth.append(picks_to_angstrom(t, voxel_size=VOXEL_A).assign(experiment=f"s{s}"))
    return pd.concat(found, ignore_index=True), pd.concat(truth, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--picker", default="picker_czii_synthetic_v1", help="name or path")
    parser.add_argument("--train", type=int, default=12, help="first N training seeds")
    parser.add_argument("--clustered-val", action="store_true", help="clustered validation")
    parser.add_argument("--out", type=Path, default=None, help="refiner JSON path")
    parser.add_argument("--quick", action="store_true", help="tiny run; writes nothing")
    args = parser.parse_args()
    picker = load_picker(args.picker, device="cpu")
    train = PICKER_TRAIN[: 2 if args.quick else args.train]
    val = PICKER_VAL[: 1 if args.quick else len(PICKER_VAL)]
    test = PICKER_TEST[: 1 if args.quick else len(PICKER_TEST)]
    t0 = time.perf_counter()
    data = [tomogram(s, clustered=True) for s in train]
    cal = [tomogram(s, clustered=args.clustered_val) for s in val]
    refiner = fit_class_refiner(
        [v for v, _ in data], [t for _, t in data], picker=picker,
        calibration=([v for v, _ in cal], [t for _, t in cal]),
    )  # fmt: skip
    print(f"fitted in {time.perf_counter() - t0:.0f} s: a={refiner.network_weight:.3f} "
          f"b={refiner.descriptor_weight:.3f}; {refiner.info['calibration']}")  # fmt: skip
    radii_A = {c.name: c.radius_A for c in picker.classes}
    cand, truth = picks_and_truth(picker, val, 0.0, refiner, args.clustered_val)
    chosen = choose_thresholds(cand, truth, radii_A=radii_A, beta=4)
    names, values = chosen["particle_type"].tolist(), chosen["threshold"].tolist()
    thresholds = {str(k): float(v) for k, v in zip(names, values, strict=True)}
    print("thresholds with the refiner:", {k: round(v, 3) for k, v in thresholds.items()})
    refiner.info.update(
        picker=str(args.picker), thresholds=thresholds,
        fitted_on=f"PICKER_TRAIN {train[0]}-{train[-1]} clustered",
        thresholds_on=f"PICKER_VAL {val[0]}-{val[-1]}" + " clustered" * args.clustered_val,
    )  # fmt: skip
    for label, ref, thr in (("alone", None, None), ("refiner", refiner, thresholds)):
        found, ref_truth = picks_and_truth(picker, test, thr, ref, False)
        score, table = czii_score(ref_truth, found, beta=4)
        print(f"\nPICKER_TEST (random layouts) {label}: CZII {score:.3f}")
        print(table.to_string(index=False), flush=True)
        refiner.info[f"test_czii_{label}"] = float(score)
    if args.quick:
        return
    where = Path(str(args.picker))
    out = args.out or OUT / "czii_refiner" / f"{where.parent.name or 'shipped'}_{where.name}.json"
    print("saved", refiner.save(out))


if __name__ == "__main__":
    main()
