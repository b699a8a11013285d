"""Train the shipped cryo-ET picker (``picker_czii_synthetic_v1``) on synthetic tomograms.

Usage (from the repository root)::

    python -m bench.recipes.train_picker_default --steps 2000 --mirror  # v1 as shipped, ~14 min
    python -m bench.recipes.train_picker_default --steps 50      # a smoke run (not for shipping)
    python -m bench.recipes.train_picker_default --install-only  # copy a finished run in
    python -m bench.recipes.train_picker_default --clustered --init picker_czii_synthetic_v1 \
        --steps 300 --lr 5e-4 --mirror --no-install --out bench/out/picker_v2
        # the clustered-layout candidate (not shipped: docs/cryoet.md, "Dense layouts")

The six CZII classes (:data:`voxpick.simulate.CZII_LIKE_CLASSES`, the competition's radii) at the
CZII voxel size, 10.012 A. Three disjoint seed ranges (:mod:`bench.common.splits`), fixed before
any result was seen:

* train: ``PICKER_N_TRAIN`` tomograms of 128^3 with random crowding (``density_scale`` 2-8), SNR
  0.25-1, defocus 2-5 um, max tilt 45-65 degrees, phase-flipped or not; with ``--clustered``
  a fraction 0-0.8 of the particles is then moved into contact with one of their class
  (``clustering``: packed apo-ferritin, polysomes, as in real CZII layouts, which v1, trained
  on random layouts only, takes for one larger particle);
* validation: ``PICKER_N_VAL`` more, laid out like the training set, used only to choose the
  per-class thresholds (F-beta 4);
* test: ``PICKER_N_TEST`` more, never trained or tuned on: the figures in the model card, on
  random layouts (the same tomograms for every version) and, with ``--clustered``, clustered
  ones.

Writes ``bench/out/picker_default/`` and, unless ``--no-install``, copies the picker into
``src/voxpick/nn/weights/NAME.{pt,json}`` with a model card (``.md``).
These are synthetic figures: the picker has never seen a real tomogram, so on real data treat it
as a starting point for ``voxpick train --copick ... --init`` rather than a finished picker.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from bench.common.paths import OUT, WEIGHTS
from bench.common.report import markdown_table
from bench.common.splits import (
    PICKER_N_TEST,
    PICKER_N_TRAIN,
    PICKER_N_VAL,
    PICKER_TEST,
    PICKER_TRAIN,
    PICKER_TRAIN_SEED,
    PICKER_VAL,
)
from bench.common.synthetic_tomograms import SIZE, VOXEL_A, classes, run_picks, tomogram
from voxpick.cryoet import (
    PickerTrainConfig,
    choose_thresholds,
    labelled_tomogram,
    load_picker,
    save_picker,
    train_picker,
)
from voxpick.metrics.czii import CziiParticle, czii_score

NAME = "picker_czii_synthetic_v1"
COMMAND = "python -m bench.recipes.train_picker_default"
CZII_WEIGHTS = {"apo-ferritin": 1, "beta-amylase": 0, "beta-galactosidase": 2, "ribosome": 1,
                "thyroglobulin": 2, "virus-like-particle": 1}  # fmt: skip


def model_card(
    info: dict[str, Any], table: pd.DataFrame, score: float, thr: dict, *, name: str = NAME,
    clustered: tuple[pd.DataFrame, float] | None = None,
) -> str:  # fmt: skip
    cols = ["particle_type", "radius_A", "n_truth", "n_pred", "tp", "fp", "fn",
            "precision", "recall", "fbeta"]  # fmt: skip
    return "\n".join(
        [
            f"# {name}",
            "",
            f"Multi-class cryo-ET picker shipped with voxpick ({info.get('date', '')}). "
            f"Reproduce: `{COMMAND} --steps "
            f"{info.get('steps', '?')}"
            + (" --mirror" if info.get("train_config", {}).get("mirror") else "")
            + (f" --init {info['init']}" if info.get("init") else "")
            + (
                f" --lr {info['train_config']['lr']:g}"
                if info.get("train_config", {}).get("lr", 2e-3) != 2e-3
                else ""
            )
            + (f" --clustered --name {name}" if info.get("clustered_layouts") else "")
            + "`.",
            "",
            "- Classes: the six CZII particle types with the competition's radii, at "
            f"{VOXEL_A} A per voxel (other voxel sizes are resampled to it).",
            f"- Architecture: MONAI 3D U-Net, {info.get('model', {})}.",
            f"- Training: {PICKER_N_TRAIN} synthetic tomograms of {SIZE}^3 "
            "(`voxpick.simulate.simulate_tomogram`: crowding 2-8x the CZII mean density, SNR "
            "0.25-1, defocus 2-5 um, tilt range +-45-65 degrees, half phase-flipped), "
            f"{info.get('steps', '?')} steps, {info.get('minutes', '?')} min on 2 CPU cores"
            + (f", fine-tuned from `{info['init']}`" if info.get("init") else "")
            + (
                "; crops mirrored as well as turned (the default since is turns only)"
                if info.get("train_config", {}).get("mirror")
                else ""
            )
            + (
                "; in each tomogram a fraction 0-0.8 of the particles moved into contact with "
                "one of their class (`clustering`: packed apo-ferritin, polysomes)"
                if info.get("clustered_layouts")
                else "; random layouts only (no two particles' bounding spheres overlap)"
            )
            + ".",
            "- Thresholds: per class (classes with fewer than 10 validation particles share "
            f"one, chosen on them pooled), F-beta 4 on {PICKER_N_VAL} separate synthetic "
            "tomograms, "
            f"with `choose_thresholds(rule={info.get('threshold_rule', 'argmax')!r})`.",
            "",
            f"## Test figures ({PICKER_N_TEST} further synthetic tomograms, never trained or "
            "tuned on)",
            "",
            f"CZII score (competition weights, F-beta 4): **{score:.3f}**",
            "",
            markdown_table(table[cols]),
            "",
            *(
                [
                    f"On {PICKER_N_TEST} clustered test tomograms (the same seeds, a fraction "
                    "0-0.8 of the particles in contact with one of their class): CZII score "
                    f"**{clustered[1]:.3f}**",
                    "",
                    markdown_table(clustered[0][cols]),
                    "",
                ]
                if clustered is not None
                else []
            ),
            "Thresholds: " + ", ".join(f"{k} {v:.3f}" for k, v in thr.items()),
            "",
            "## Limits",
            "",
            "Trained on synthetic data only and never evaluated on a real tomogram here (no real "
            "CZII volume is available to this project). Expect lower figures on real data; "
            "fine-tune on labelled runs with `voxpick train --copick CONFIG --init "
            f"{name}` and choose thresholds on held-out runs.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--out", type=Path, default=OUT / "picker_default")
    parser.add_argument("--install-only", action="store_true")
    parser.add_argument("--no-install", action="store_true")
    parser.add_argument(
        "--mirror", action="store_true", help="also mirror crops (how v1 was trained)"
    )
    parser.add_argument(
        "--clustered", action="store_true",
        help="train and validate on clustered layouts (same-class particles in contact)",
    )  # fmt: skip
    parser.add_argument("--name", default=NAME, help="installed name of the picker")
    parser.add_argument("--init", default=None, help="picker to fine-tune from (path or name)")
    parser.add_argument("--lr", type=float, default=PickerTrainConfig.lr, help="peak rate")
    args = parser.parse_args()
    clustered = args.clustered
    path = args.out / "picker"
    cls = classes()
    t0 = time.perf_counter()
    if not args.install_only:
        tomos = [
            labelled_tomogram(
                *tomogram(s, clustered=clustered), cls, voxel_size=VOXEL_A, name=f"s{s}"
            )
            for s in PICKER_TRAIN
        ]
        cfg = PickerTrainConfig(
            steps=args.steps, patch=64, seed=PICKER_TRAIN_SEED, log_every=50, mirror=args.mirror,
            lr=args.lr,
        )  # fmt: skip
        train_picker(tomos, cls, cfg, args.out, voxel_size=VOXEL_A, init=args.init, progress=False)
    minutes = (time.perf_counter() - t0) / 60
    picker = load_picker(path, device="cpu")
    cand, truth = run_picks(picker, PICKER_VAL, 0.0, clustered=clustered)
    chosen = choose_thresholds(cand, truth, radii_A={c.name: c.radius_A for c in cls}, beta=4)
    pairs = zip(chosen["particle_type"], chosen["threshold"], strict=True)
    thr = {str(k): float(v) for k, v in pairs}
    info = {**picker.info, "thresholds_from": "synthetic validation seeds "
            f"{PICKER_VAL[0]}-{PICKER_VAL[-1]}", "threshold_rule": str(chosen["rule"].iloc[0]),
            "date": time.strftime("%Y-%m-%d"), "clustered_layouts": clustered}  # fmt: skip
    if not args.install_only:
        info["minutes"] = round(minutes, 1)
    save_picker(picker.net, classes=cls, voxel_size=VOXEL_A, thresholds=thr, info=info, path=path)
    picker = load_picker(path, device="cpu")
    found, truth = run_picks(picker, PICKER_TEST, None)
    parts = [CziiParticle(c.name, c.radius_A, CZII_WEIGHTS[c.name]) for c in cls]
    score, table = czii_score(truth, found, beta=4, particles=parts)
    print(table.to_string(index=False))
    print(f"CZII score on {PICKER_N_TEST} synthetic test tomograms: {score:.3f}")
    on_clusters = None
    if clustered:
        found, truth = run_picks(picker, PICKER_TEST, None, clustered=True)
        c_score, c_table = czii_score(truth, found, beta=4, particles=parts)
        on_clusters = (c_table, c_score)
        print(c_table.to_string(index=False))
        print(f"CZII score on {PICKER_N_TEST} clustered test tomograms: {c_score:.3f}")
    if args.no_install:
        return
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    for suffix in (".pt", ".json"):
        shutil.copyfile(path.with_suffix(suffix), WEIGHTS / f"{args.name}{suffix}")
    card_info = {**json.loads((WEIGHTS / f"{args.name}.json").read_text()), **info}
    card = model_card(card_info, table, score, thr, name=args.name, clustered=on_clusters)
    (WEIGHTS / f"{args.name}.md").write_text(card)
    print(f"installed {WEIGHTS / args.name}.pt/.json/.md")


if __name__ == "__main__":
    main()
