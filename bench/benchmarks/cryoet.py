"""Cryo-ET picking benchmark on the DeepFinder simulated tomograms (CZII F-beta 4).

Usage (from the repository root; ``python -m bench`` runs the ``--refit`` line)::

    python -m bench.benchmarks.cryoet --init picker_czii_synthetic_v1   # fine-tune; ~25 min
    python -m bench.benchmarks.cryoet                 # from scratch; ~60 min on 2 cores
    python -m bench.benchmarks.cryoet --steps 200     # a smoke run (not for reporting)
    python -m bench.benchmarks.cryoet --init picker_czii_synthetic_v1 --seed 20261123 20261124
                                           # a seed ensemble: one picker per seed, averaged
    python -m bench.benchmarks.cryoet --init picker_czii_synthetic_v1 --refit
                                           # then retrain on tomo1-6, keeping the thresholds
    python -m bench.benchmarks.cryoet --quick         # two pickers of a few steps into
                                           # bench/out/quick/cryoet (for cryoet_seeds --quick)

Split (fixed, never changed after looking at test figures; :mod:`bench.common.splits`):

* train: DeepFinder tomo1-5 (with ``--init picker_czii_synthetic_v1``, fine-tuned from the
  shipped picker pre-trained on voxpick's synthetic tomograms: its feature layers are copied,
  its class maps are not, since DeepFinder's classes are others);
* validation: tomo6, used only to choose the per-class thresholds that maximise F4;
* test: tomo7-8, never trained or tuned on; the figures reported.

The nine DeepFinder classes have no names in the data: they are ``class_1`` .. ``class_9``, with
radii estimated from the training tomograms' label maps (equivalent-sphere radius of one
particle's mask; :mod:`bench.common.deepfinder`). The voxel size is taken as 10 Angstrom (the
match radius, half the class radius, is the same in voxels whatever the true size). Scores use
:func:`voxpick.metrics.czii_score` with every class weighted 1. Reads
../shared/data/cryoet-sim-deepfinder in place; writes the section "Cryo-ET picking, DeepFinder
tomograms" of docs/benchmarks.md (whichever variant ran last; its text names the variant).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from bench.common.deepfinder import DATA, VOXEL_A, candidates, class_radii, in_angstrom, load
from bench.common.paths import OUT as BENCH_OUT
from bench.common.report import markdown_table, update_section
from bench.common.splits import (
    DEEPFINDER_TEST,
    DEEPFINDER_TRAIN,
    DEEPFINDER_TRAIN_SEED,
    DEEPFINDER_VALIDATION,
)
from voxpick.cryoet import (
    LabelledTomogram,
    PickerClass,
    PickerTrainConfig,
    choose_thresholds,
    ensemble_pickers,
    labelled_tomogram,
    load_picker,
    pick,
    save_picker,
    train_picker,
)
from voxpick.metrics.czii import CziiParticle, czii_score

OUT = BENCH_OUT / "cryoet"
TRAIN, VALIDATION, TEST = DEEPFINDER_TRAIN, DEEPFINDER_VALIDATION, DEEPFINDER_TEST
SEED = DEEPFINDER_TRAIN_SEED
TITLE = "Cryo-ET picking, DeepFinder tomograms"
#: ``--quick``: a few training steps for each of two seeds, into ``QUICK_OUT/seed_S``
QUICK_STEPS, QUICK_SEEDS, QUICK_OUT = 4, [SEED, SEED + 1], BENCH_OUT / "quick" / "cryoet"
#: Training steps. Chosen on tomo6 alone: from 1000 to 3000 to 6000 steps the validation
#: log-likelihood of the true class rose (-1.18, -0.54, -0.31 with the shipped initialisation).
STEPS = 6000


def train_one(
    classes: list[PickerClass],
    *,
    seed: int,
    out: Path,
    args: argparse.Namespace,
    indices: tuple[int, ...] = TRAIN,
) -> None:
    """Train one picker on tomograms ``indices`` (default tomo1-5) into ``out/picker``."""
    tomos: list[LabelledTomogram] = []
    for i in indices:
        vol, picks = load(i)
        tomos.append(labelled_tomogram(vol, picks, classes, voxel_size=VOXEL_A, name=f"tomo{i}"))
    cfg = PickerTrainConfig(
        steps=args.steps, patch=48, seed=seed, log_every=50, mirror=args.mirror,
        rotate_degrees=args.rotate,
    )  # fmt: skip
    train_picker(tomos, classes, cfg, out, voxel_size=VOXEL_A, init=args.init, progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--skip-train", action="store_true", help="reuse OUT/picker.pt")
    parser.add_argument("--init", default=None, help="picker to fine-tune from (path or name)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--tta", action="store_true", help="pick with test-time augmentation")
    parser.add_argument("--mirror", action="store_true", help="also mirror training crops")
    parser.add_argument(
        "--rotate", type=float, default=0.0, metavar="DEG",
        help="also turn training crops by random rotations of up to DEG degrees",
    )  # fmt: skip
    parser.add_argument(
        "--refit", action="store_true",
        help="after choosing the thresholds, retrain on tomo1-6 (same seeds) and keep them",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, nargs="+", default=[SEED],
        help="training seed; several train one picker each (OUT/seed_S) and average them",
    )  # fmt: skip
    parser.add_argument(
        "--quick", action="store_true",
        help=f"{QUICK_STEPS} steps for seeds {QUICK_SEEDS} into {QUICK_OUT}, not for docs",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:  # unless given: few steps, two seeds, a scratch folder; never the docs
        args.no_write = True
        args.steps = QUICK_STEPS if args.steps == STEPS else args.steps
        args.out = QUICK_OUT if args.out == OUT else args.out
        args.seed = QUICK_SEEDS if args.seed == [SEED] else args.seed
    if not DATA.exists():
        print(f"{DATA} is absent: nothing to do")
        return
    radii = class_radii(TRAIN + VALIDATION)
    classes = [PickerClass(name, r * VOXEL_A) for name, r in radii.items()]
    print("class radii (voxels):", {k: round(v, 2) for k, v in radii.items()})
    seeds = list(dict.fromkeys(args.seed))
    ensemble = len(seeds) > 1
    outs = [args.out / f"seed_{s}" for s in seeds] if ensemble else [args.out]
    train_s = 0.0
    for seed, out in zip(seeds, outs, strict=True):
        t0 = time.perf_counter()
        if not args.skip_train:
            train_one(classes, seed=seed, out=out, args=args)
            train_s += time.perf_counter() - t0
        else:  # the training time recorded with the picker
            train_s += float(load_picker(out / "picker", device="cpu").info["train_seconds"])
    path = args.out / "picker"
    if ensemble:
        members = ensemble_pickers([out / "picker" for out in outs], device="cpu")
        save_picker(
            members.net, classes=classes, voxel_size=VOXEL_A, thresholds=members.thresholds,
            info={**members.info, "train_seconds": train_s}, path=path,
        )  # fmt: skip

    cand_val, truth_val = candidates(path, VALIDATION, tta=args.tta)
    chosen = choose_thresholds(
        cand_val, truth_val, radii_A={c.name: c.radius_A for c in classes}, beta=4
    )
    thresholds = dict(zip(chosen["particle_type"], chosen["threshold"], strict=True))
    picker = load_picker(path, device="cpu")
    save_picker(
        picker.net, classes=classes, voxel_size=VOXEL_A, thresholds=thresholds,
        info={**picker.info, "thresholds_from": [f"tomo{i}" for i in VALIDATION],
              "threshold_rule": str(chosen["rule"].iloc[0])}, path=path,
    )  # fmt: skip

    if args.refit:  # the same recipe on tomo1-6; the thresholds chosen above carry over
        refit = args.out / "refit"
        refit_outs = [refit / f"seed_{s}" for s in seeds] if ensemble else [refit]
        for seed, out in zip(seeds, refit_outs, strict=True):
            if args.skip_train and (out / "picker.pt").exists():
                train_s += float(load_picker(out / "picker", device="cpu").info["train_seconds"])
            else:
                t0 = time.perf_counter()
                train_one(classes, seed=seed, out=out, args=args, indices=TRAIN + VALIDATION)
                train_s += time.perf_counter() - t0
        final = (
            ensemble_pickers([out / "picker" for out in refit_outs], device="cpu")
            if ensemble
            else load_picker(refit / "picker", device="cpu")
        )
        path = refit / "picker"
        save_picker(
            final.net, classes=classes, voxel_size=VOXEL_A, thresholds=thresholds,
            info={**final.info, "thresholds_from": "tomo6, with the pickers trained on tomo1-5"},
            path=path,
        )  # fmt: skip

    picker = load_picker(path, device="cpu")  # with the thresholds just chosen
    picks, truths, pick_s = [], [], 0.0
    for i in TEST:
        vol, truth = load(i)
        t1 = time.perf_counter()
        found = pick(vol, model=picker, tta=args.tta)
        pick_s += (time.perf_counter() - t1) / len(TEST)
        picks.append(in_angstrom(found, voxel_size=VOXEL_A, experiment=f"tomo{i}"))
        truths.append(in_angstrom(truth, voxel_size=VOXEL_A, experiment=f"tomo{i}"))
    sub = pd.concat(picks, ignore_index=True)
    truth_test = pd.concat(truths, ignore_index=True)
    particles = [CziiParticle(c.name, c.radius_A, 1) for c in classes]
    score, table = czii_score(truth_test, sub, beta=4, particles=particles)
    print(table.to_string(index=False))
    print(f"F4 on tomo7-8: {score:.3f}; training {train_s / 60:.1f} min; {pick_s:.2f} s/tomogram")
    if args.no_write:
        return
    cols = ["particle_type", "radius_A", "n_truth", "n_pred", "tp", "fp", "fn",
            "precision", "recall", "fbeta"]  # fmt: skip
    seed_text = (
        f"{len(seeds)} pickers averaged (a seed ensemble), seeds {', '.join(map(str, seeds))}, "
        f"{train_s / 60:.1f} min in all"
        if ensemble
        else f"seed {seeds[0]}, {train_s / 60:.1f} min"
    )
    body = (
        f"DeepFinder simulated tomograms (100^3, 9 classes x 3 particles each). Trained on "
        f"tomo1-5 ({args.steps} steps, {seed_text} on this machine"
        + (f", fine-tuned from {args.init}" if args.init else ", from scratch")
        + (
            "; crops turned and mirrored"
            if args.mirror
            else "; crops turned by 180 degrees, never mirrored; the step count chosen on tomo6"
        )
        + (f", and by random rotations of up to {args.rotate:g} degrees" if args.rotate else "")
        + "), "
        + (
            "then trained again the same way on tomo1-6 (`--refit`) keeping the thresholds "
            "chosen below with the tomo1-5 pickers; "
            if args.refit
            else ""
        )
        + "thresholds chosen for F4 on tomo6 (3 particles per class, fewer than "
        "`choose_thresholds` needs for a class of its own: one threshold for all, chosen on "
        f"them pooled, rule `{chosen['rule'].iloc[0]}`), scored on tomo7-8 (never seen).\n\n"
        f"**F4 (CZII rule, every class weight 1) = {score:.3f}**; picking takes "
        f"{pick_s:.2f} s per 100^3 tomogram on the CPU"
        + (" (with `tta=True`: four 180-degree turns averaged)" if args.tta else "")
        + ".\n\n"
        + markdown_table(table[cols])
        + "\n\nThresholds (score = objectness x class probability): "
        + ", ".join(f"{k} {v:.3f}" for k, v in thresholds.items())
    )
    command = "--init " + args.init if args.init else ""
    if args.refit:
        command += " --refit"
    if args.steps != STEPS:
        command += f" --steps {args.steps}"
    if args.tta:
        command += " --tta"
    if args.mirror:
        command += " --mirror"
    if args.rotate:
        command += f" --rotate {args.rotate:g}"
    if seeds != [SEED]:
        command += " --seed " + " ".join(map(str, seeds))
    update_section(TITLE, body, command=f"python -m bench.benchmarks.cryoet {command}".strip())


if __name__ == "__main__":
    main()
