"""Train the shipped cryo-ET picker (``picker_czii_synthetic_v1``) on synthetic tomograms.

Usage::

    python bench/train_picker_default.py --steps 2000 --mirror  # v1 as shipped, ~14 min
    python bench/train_picker_default.py --steps 50      # a smoke run (not for shipping)
    python bench/train_picker_default.py --install-only  # copy a finished run into the package

The six CZII classes (:data:`voxpick.simulate.CZII_LIKE_CLASSES`, the competition's radii) at the
CZII voxel size, 10.012 A. Three disjoint seed ranges, fixed before any result was seen:

* train: ``N_TRAIN`` tomograms of 128^3 with random crowding (``density_scale`` 2-8), SNR
  0.25-1, defocus 2-5 um, max tilt 45-65 degrees, phase-flipped or not;
* validation: ``N_VAL`` more, used only to choose the per-class thresholds (F-beta 4);
* test: ``N_TEST`` more, never trained or tuned on: the figures in the model card.

Writes ``bench/out/picker_default/`` and, unless ``--no-install``, copies the picker into
``src/voxpick/ml/weights/picker_czii_synthetic_v1.{pt,json}`` with a model card (``.md``).
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

import numpy as np
import pandas as pd

from _report import markdown_table
from voxpick.io.czii_csv import picks_to_angstrom
from voxpick.metrics.czii import CziiParticle, czii_score
from voxpick.ml.picker_data import labelled_tomogram
from voxpick.ml.picker_infer import choose_thresholds, pick_particles
from voxpick.ml.picker_store import PickerClass, load_picker, save_picker
from voxpick.ml.picker_train import PickerTrainConfig, train_picker
from voxpick.simulate import CZII_LIKE_CLASSES, simulate_tomogram

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "src" / "voxpick" / "ml" / "weights"
NAME = "picker_czii_synthetic_v1"
OUT = ROOT / "bench" / "out" / "picker_default"
VOXEL_A = 10.012
SIZE = 128
N_TRAIN, N_VAL, N_TEST = 24, 4, 6
TRAIN_SEED, VAL_SEED, TEST_SEED = 1000, 2000, 3000
CZII_WEIGHTS = {"apo-ferritin": 1, "beta-amylase": 0, "beta-galactosidase": 2, "ribosome": 1,
                "thyroglobulin": 2, "virus-like-particle": 1}  # fmt: skip


def conditions(seed: int) -> dict[str, Any]:
    """Imaging conditions of synthetic tomogram ``seed`` (seeded, independent of the index)."""
    gen = np.random.default_rng(seed)
    return {
        "density_scale": float(gen.uniform(2.0, 8.0)),
        "snr": float(gen.uniform(0.25, 1.0)),
        "defocus_um": float(gen.uniform(2.0, 5.0)),
        "max_tilt": float(gen.uniform(45.0, 65.0)),
        "phase_flip": bool(gen.random() < 0.5),
    }


def tomogram(seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Synthetic tomogram ``seed`` and its truth (``particle_type, z, y, x`` in voxels)."""
    vol, truth = simulate_tomogram(SIZE, voxel_size=VOXEL_A, rng=seed, **conditions(seed))
    return vol, truth[["particle_type", "z", "y", "x"]]


def classes() -> list[PickerClass]:
    return [PickerClass(c.name, c.radius_A) for c in CZII_LIKE_CLASSES]


def run_picks(picker: Any, seeds: range, thresholds: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Picks and truth of the tomograms ``seeds``, in Angstrom with an ``experiment`` column."""
    found, truth = [], []
    for s in seeds:
        vol, t = tomogram(s)
        p = pick_particles(vol, model=picker, thresholds=thresholds)
        found.append(picks_to_angstrom(p, voxel_size=VOXEL_A).assign(experiment=f"s{s}"))
        truth.append(picks_to_angstrom(t, voxel_size=VOXEL_A).assign(experiment=f"s{s}"))
    return pd.concat(found, ignore_index=True), pd.concat(truth, ignore_index=True)


def model_card(info: dict[str, Any], table: pd.DataFrame, score: float, thr: dict) -> str:
    cols = ["particle_type", "radius_A", "n_truth", "n_pred", "tp", "fp", "fn",
            "precision", "recall", "fbeta"]  # fmt: skip
    return "\n".join(
        [
            f"# {NAME}",
            "",
            f"Multi-class cryo-ET picker shipped with voxpick ({info.get('date', '')}). "
            "Reproduce: `python bench/train_picker_default.py --steps "
            f"{info.get('steps', '?')}"
            + (" --mirror" if info.get("train_config", {}).get("mirror") else "")
            + "`.",
            "",
            "- Classes: the six CZII particle types with the competition's radii, at "
            f"{VOXEL_A} A per voxel (other voxel sizes are resampled to it).",
            f"- Architecture: MONAI 3D U-Net, {info.get('model', {})}.",
            f"- Training: {N_TRAIN} synthetic tomograms of {SIZE}^3 "
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
            f"one, chosen on them pooled), F-beta 4 on {N_VAL} separate synthetic tomograms, "
            f"with `choose_thresholds(rule={info.get('threshold_rule', 'argmax')!r})`.",
            "",
            f"## Test figures ({N_TEST} further synthetic tomograms, never trained or tuned on)",
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
    parser.add_argument("--out", type=Path, default=OUT)
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
            for s in range(TRAIN_SEED, TRAIN_SEED + N_TRAIN)
        ]
        cfg = PickerTrainConfig(
            steps=args.steps, patch=64, seed=TRAIN_SEED, log_every=50, mirror=args.mirror
        )
        train_picker(tomos, cls, cfg, args.out, voxel_size=VOXEL_A, progress=False)
    minutes = (time.perf_counter() - t0) / 60
    picker = load_picker(path, device="cpu")
    cand, truth = run_picks(picker, range(VAL_SEED, VAL_SEED + N_VAL), 0.0)
    chosen = choose_thresholds(cand, truth, radii_A={c.name: c.radius_A for c in cls}, beta=4)
    pairs = zip(chosen["particle_type"], chosen["threshold"], strict=True)
    thr = {str(k): float(v) for k, v in pairs}
    info = {**picker.info, "thresholds_from": "synthetic validation seeds "
            f"{VAL_SEED}-{VAL_SEED + N_VAL - 1}", "threshold_rule": str(chosen["rule"].iloc[0]),
            "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    if not args.install_only:
        info["minutes"] = round(minutes, 1)
    save_picker(picker.net, classes=cls, voxel_size=VOXEL_A, thresholds=thr, info=info, path=path)
    picker = load_picker(path, device="cpu")
    found, truth = run_picks(picker, range(TEST_SEED, TEST_SEED + N_TEST), None)
    parts = [CziiParticle(c.name, c.radius_A, CZII_WEIGHTS[c.name]) for c in cls]
    score, table = czii_score(truth, found, beta=4, particles=parts)
    print(table.to_string(index=False))
    print(f"CZII score on {N_TEST} synthetic test tomograms: {score:.3f}")
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
