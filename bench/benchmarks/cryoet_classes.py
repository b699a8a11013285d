"""Look-alike classes on the DeepFinder tomograms: the picker alone against picker + refiner.

Usage (from the repository root; ``python -m bench`` runs the first line after ``cryoet``)::

    python -m bench.benchmarks.cryoet_classes        # the picker of bench.benchmarks.cryoet
    python -m bench.benchmarks.cryoet_classes --picker DIR/picker   # another picker (tomo1-5)
    python -m bench.benchmarks.cryoet_classes --quick  # the few-step picker of cryoet --quick

The picker (trained on tomo1-5) is run twice with the same split as
``bench/benchmarks/cryoet.py``: alone, and with the second stage
(:func:`voxpick.cryoet.fit_class_refiner`: rotation-invariant shape descriptors fitted on the
particles of tomo1-5 and on the picker's candidates there that hit one; the weights combining
them with the picker's class shares fitted on tomo6's candidates). Each run chooses its own
thresholds on tomo6 (``choose_thresholds``, default rule) and is scored on tomo7-8 (never
trained or tuned on). Also reported: how well each source alone assigns the classes of the
candidates of tomo6 that hit a particle (the choice between them), and the confusion table of
tomo7-8 (picks matched to the nearest particle within half its radius). Writes the section
"Cryo-ET look-alike classes" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from bench.benchmarks.cryoet import OUT as CRYOET_OUT
from bench.benchmarks.cryoet import QUICK_OUT
from bench.common.deepfinder import DATA, candidates, load
from bench.common.report import markdown_table, update_section
from bench.common.splits import DEEPFINDER_TEST, DEEPFINDER_TRAIN, DEEPFINDER_VALIDATION
from voxpick.cryoet import ClassRefiner, choose_thresholds, fit_class_refiner, load_picker
from voxpick.cryoet.store import PickerModel
from voxpick.metrics.czii import CziiParticle, czii_score

TITLE = "Cryo-ET look-alike classes"


def confusion(picks: pd.DataFrame, truth: pd.DataFrame, radii_A: dict[str, float]) -> pd.DataFrame:
    """Picks per (true class, picked class); unmatched picks on the row ``none``."""
    names = list(radii_A)
    table = pd.DataFrame(0, index=[*names, "none"], columns=names)
    for exp, group in picks.groupby("experiment"):
        ref = truth[truth["experiment"] == exp]
        dist, j = cKDTree(ref[["z", "y", "x"]].to_numpy(float)).query(
            group[["z", "y", "x"]].to_numpy(float)
        )
        kind = ref["particle_type"].to_numpy()[j]
        reach = np.array([0.5 * radii_A[str(k)] for k in kind])
        rows = np.where(dist <= reach, kind, "none")
        for r, c in zip(rows, group["particle_type"], strict=True):
            table.loc[r, c] += 1
    out = table.reset_index().rename(columns={"index": "true \\ picked"})
    out.columns = [str(c).replace("class_", "c") for c in out.columns]
    return out


def run(
    picker: PickerModel,
    refiner: ClassRefiner | None,
    radii_A: dict[str, float],
    test: tuple[int, ...] = DEEPFINDER_TEST,
) -> tuple[float, pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Thresholds on tomo6, F4 table and confusion on ``test``, with or without the refiner."""
    cand, truth = candidates(picker, DEEPFINDER_VALIDATION, classifier=refiner)
    chosen = choose_thresholds(cand, truth, radii_A=radii_A, beta=4)
    thresholds = dict(zip(chosen["particle_type"], chosen["threshold"], strict=True))
    sub, ref = candidates(picker, test, thresholds=thresholds, classifier=refiner)
    particles = [CziiParticle(k, r, 1) for k, r in radii_A.items()]
    score, table = czii_score(ref, sub, beta=4, particles=particles)
    return score, table, confusion(sub, ref, radii_A), thresholds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--picker", type=Path, default=None, help="picker trained on tomo1-5")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--save", type=Path, default=None, help="also save the refiner here")
    parser.add_argument(
        "--quick", action="store_true",
        help=f"the picker under {QUICK_OUT}, descriptors from tomo1, tomo7 only; no docs",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.no_write = True
    path = args.picker or ((QUICK_OUT if args.quick else CRYOET_OUT) / "picker")
    if not DATA.exists():
        print(f"{DATA} is absent: nothing to do")
        return
    if not path.with_suffix(".pt").exists():
        raise SystemExit(
            f"no picker at {path}: train one first (python -m bench.benchmarks.cryoet"
            + (" --quick)" if args.quick else " --init picker_czii_synthetic_v1)")
        )
    picker = load_picker(path, device="cpu")
    radii_A = {c.name: c.radius_A for c in picker.classes}
    train = DEEPFINDER_TRAIN[:1] if args.quick else DEEPFINDER_TRAIN
    test = DEEPFINDER_TEST[:1] if args.quick else DEEPFINDER_TEST
    t0 = time.perf_counter()
    data = [load(i) for i in train]
    cal = [load(i) for i in DEEPFINDER_VALIDATION]
    truth_vox = [p[["particle_type", "z", "y", "x"]] for _, p in data]
    refiner = fit_class_refiner(
        [v for v, _ in data], truth_vox, picker=picker,
        calibration=([v for v, _ in cal], [p for _, p in cal]),
    )  # fmt: skip
    fit_s = time.perf_counter() - t0
    if args.save:
        refiner.save(args.save)
    info = refiner.info["calibration"]
    print(f"refiner fitted in {fit_s:.1f} s: a={refiner.network_weight:.3f} "
          f"b={refiner.descriptor_weight:.3f}; tomo6 {info}")  # fmt: skip
    results = {}
    for label, ref in (("picker alone", None), ("picker + refiner", refiner)):
        t1 = time.perf_counter()
        score, table, conf, thr = run(picker, ref, radii_A, test)
        results[label] = (score, table, conf, thr)
        print(f"\n{label}: F4 on tomo{test} = {score:.3f} ({time.perf_counter() - t1:.1f} s)")
        print(table.to_string(index=False))
        print(conf.to_string(index=False))
    if args.no_write:
        return
    cols = ["particle_type", "n_truth", "n_pred", "tp", "fp", "fn", "precision", "recall",
            "fbeta"]  # fmt: skip
    (s0, t0_, c0, thr0), (s1, t1_, c1, thr1) = results.values()
    both = t0_[cols].merge(
        t1_[["particle_type", "n_pred", "precision", "recall", "fbeta"]],
        on="particle_type", suffixes=(" alone", " refined"),
    )  # fmt: skip
    counts = refiner.info["counts"]
    steps = picker.info.get("train_config", {}).get("steps", "?")
    init = picker.info.get("init")
    recipe = f"python -m bench.benchmarks.cryoet --steps {steps} --out {path.parent} --no-write"
    recipe += f" --init {init}" if init else ""
    body = (
        "The DeepFinder split of \"Cryo-ET picking, DeepFinder tomograms\" (train tomo1-5, "
        f"choose tomo6, score tomo7-8), with the picker `{path}` ({steps} training steps on "
        f"tomo1-5, `{recipe}`), run alone and "
        "with the look-alike second stage (`fit_class_refiner`: rotation-invariant shape "
        f"descriptors of {sum(counts.values())} particle crops of tomo1-5, the labelled "
        "particles and the picker's candidates there that hit one; combined with the picker's "
        "class shares by weights fitted on tomo6). Each run chooses its own thresholds on tomo6 "
        f"(rule `calibrated`). Fitting the refiner took {fit_s:.0f} s on the CPU.\n\n"
        "How well each source assigns the class of tomo6's candidates that hit a particle "
        f"({info['n_candidates']} candidates; the descriptors never saw tomo6, the combination "
        "weights were fitted on it): picker shares "
        f"{info['accuracy_network']:.3f}, descriptors {info['accuracy_descriptors']:.3f}, "
        f"combined {info['accuracy_combined']:.3f} (weights a = {refiner.network_weight:.2f} on "
        f"the log shares, b = {refiner.descriptor_weight:.2f} on the descriptor log-probabilities)."
        f"\n\n**F4 on tomo7-8: picker alone {s0:.3f}, picker + refiner {s1:.3f}** (one picker, one "
        "training seed; with 54 test particles one particle moves F4 by about 0.02).\n\n"
        + markdown_table(both)
        + "\n\nConfusion on tomo7-8, picker alone (rows: the particle a pick hits, `none`: a "
        "false pick; columns: the class picked):\n\n"
        + markdown_table(c0)
        + "\n\nThe same with the refiner:\n\n"
        + markdown_table(c1)
        + "\n\nThresholds alone: " + ", ".join(f"{k} {v:.3f}" for k, v in thr0.items())
        + "; with the refiner: " + ", ".join(f"{k} {v:.3f}" for k, v in thr1.items()) + "."
    )  # fmt: skip
    command = "python -m bench.benchmarks.cryoet_classes"
    if args.picker:
        command += f" --picker {args.picker}"
    update_section(TITLE, body, command=command)


if __name__ == "__main__":
    main()
