"""Train the shipped cryo-ET picker (``picker_czii_synthetic_v1``) on synthetic tomograms.

Usage (from the repository root)::

    python -m bench.recipes.train_picker_default --steps 2000 --mirror  # v1 as shipped, ~14 min
    python -m bench.recipes.train_picker_default --steps 50      # a smoke run (not for shipping)
    python -m bench.recipes.train_picker_default --install-only  # copy a finished run in

The six CZII classes (:data:`voxpick.simulate.CZII_LIKE_CLASSES`, the competition's radii) at the
CZII voxel size, 10.012 A. Three disjoint seed ranges (:mod:`bench.common.splits`), fixed before
any result was seen:

* train: ``PICKER_N_TRAIN`` tomograms of 128^3 with random crowding (``density_scale`` 2-8), SNR
  0.25-1, defocus 2-5 um, max tilt 45-65 degrees, phase-flipped or not;
* validation: ``PICKER_N_VAL`` more, used only to choose the per-class thresholds (F-beta 4);
* test: ``PICKER_N_TEST`` more, never trained or tuned on: the figures in the model card.

Writes ``bench/out/picker_default/`` and, unless ``--no-install``, copies the picker into
``src/voxpick/nn/weights/picker_czii_synthetic_v1.{pt,json}`` with a model card (``.md``).
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


def model_card(info: dict[str, Any], table: pd.DataFrame, score: float, thr: dict) -> str:
    cols = ["particle_type", "radius_A", "n_truth", "n_pred", "tp", "fp", "fn",
            "precision", "recall", "fbeta"]  # fmt: skip
    return "\n".join(
        [
            f"# {NAME}",
            "",
            f"Multi-class cryo-ET picker shipped with voxpick ({info.get('date', '')}). "
            f"Reproduce: `{COMMAND} --steps "
            f"{info.get('steps', '?')}"
            + (" --mirror" if info.get("train_config", {}).get("mirror") else "")
            + "`.",
            "",
            "- Classes: the six CZII particle types with the competition's radii, at "
            f"{VOXEL_A} A per voxel (other voxel sizes are resampled to it).",
            f"- Architecture: MONAI 3D U-Net, {info.get('model', {})}.",
            f"- Training: {PICKER_N_TRAIN} synthetic tomograms of {SIZE}^3 "
            "(`voxpick.simulate.simulate_tomogram`: crowding 2-8x the CZII mean density, SNR "
            "0.25-1, defocus 2-5 um, tilt range +-45-65 degrees, half phase-flipped), "
            f"{info.get('steps', '?')} steps, {info.get('minutes', '?')} min on 2 CPU cores"
            + (
                "; crops mirrored as well as turned (the default since is turns only)"
                if info.get("train_config", {}).get("mirror")
                else ""
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
            "Thresholds: " + ", ".join(f"{k} {v:.3f}" for k, v in thr.items()),
            "",
            "## Limits",
            "",
            "Trained on synthetic data only and never evaluated on a real tomogram here (no real "
            "CZII volume is available to this project). Expect lower figures on real data; "
            "fine-tune on labelled runs with `voxpick train --copick CONFIG --init "
            f"{NAME}` and choose thresholds on held-out runs.",
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
    args = parser.parse_args()
    path = args.out / "picker"
    cls = classes()
    t0 = time.perf_counter()
    if not args.install_only:
        tomos = [
            labelled_tomogram(*tomogram(s), cls, voxel_size=VOXEL_A, name=f"s{s}")
            for s in PICKER_TRAIN
        ]
        cfg = PickerTrainConfig(
            steps=args.steps, patch=64, seed=PICKER_TRAIN_SEED, log_every=50, mirror=args.mirror
        )
        train_picker(tomos, cls, cfg, args.out, voxel_size=VOXEL_A, progress=False)
    minutes = (time.perf_counter() - t0) / 60
    picker = load_picker(path, device="cpu")
    cand, truth = run_picks(picker, PICKER_VAL, 0.0)
    chosen = choose_thresholds(cand, truth, radii_A={c.name: c.radius_A for c in cls}, beta=4)
    pairs = zip(chosen["particle_type"], chosen["threshold"], strict=True)
    thr = {str(k): float(v) for k, v in pairs}
    info = {**picker.info, "thresholds_from": "synthetic validation seeds "
            f"{PICKER_VAL[0]}-{PICKER_VAL[-1]}", "threshold_rule": str(chosen["rule"].iloc[0]),
            "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    if not args.install_only:
        info["minutes"] = round(minutes, 1)
    save_picker(picker.net, classes=cls, voxel_size=VOXEL_A, thresholds=thr, info=info, path=path)
    picker = load_picker(path, device="cpu")
    found, truth = run_picks(picker, PICKER_TEST, None)
    parts = [CziiParticle(c.name, c.radius_A, CZII_WEIGHTS[c.name]) for c in cls]
    score, table = czii_score(truth, found, beta=4, particles=parts)
    print(table.to_string(index=False))
    print(f"CZII score on {PICKER_N_TEST} synthetic test tomograms: {score:.3f}")
    if args.no_install:
        return
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    for suffix in (".pt", ".json"):
        shutil.copyfile(path.with_suffix(suffix), WEIGHTS / f"{NAME}{suffix}")
    card_info = {**json.loads((WEIGHTS / f"{NAME}.json").read_text()), **info}
    (WEIGHTS / f"{NAME}.md").write_text(model_card(card_info, table, score, thr))
    print(f"installed {WEIGHTS / NAME}.pt/.json/.md")


if __name__ == "__main__":
    main()
