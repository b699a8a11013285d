"""Pick full-size tomograms laid out as the seven CZII experiments with each picker.

Usage (from the repository root)::

    python -m bench.benchmarks.cryoet_layouts        # all seven, default picker; ~30 min, 2 cores
    python -m bench.benchmarks.cryoet_layouts --pickers picker_czii_synthetic_v1 \
        bench/out/picker_v2/picker                   # the reported run: v1 and the candidate
    python -m bench.benchmarks.cryoet_layouts --experiments TS_5_4 --no-write  # CHOOSE only
    python -m bench.benchmarks.cryoet_layouts --pickers picker_czii_synthetic_v1 \
        bench/out/picker_v2/picker --refiners bench/out/czii_refiner/*.json  # + look-alike stage
    python -m bench.benchmarks.cryoet_layouts --quick  # a 64 x 128 x 128 clustered tomogram

Each tomogram (184 x 630 x 630, simulator defaults, seed ``FULL_SIZE_TOMOGRAM_SEED``) holds the
particle positions and types of one CZII training experiment's expert picks
(:mod:`bench.common.czii_layouts`, cached once per machine). The experiments are split by the
``fold`` column before any result was seen: anything may be diagnosed or chosen on
``CHOOSE_EXPERIMENTS``; ``REPORT_EXPERIMENTS`` are only reported, and the summary is their mean.
Every tomogram is picked by :func:`voxpick.cryoet.pick` with each picker's saved thresholds
(default: the shipped default picker; the clustered-layout candidate of
``bench/recipes/train_picker_default.py --clustered`` is not shipped and is named by its path),
or, with ``--refiners``, by a picker with its look-alike second stage and the thresholds chosen
with it (both fitted on synthetic tomograms by ``bench/recipes/fit_czii_refiner.py``), and
scored with the CZII metric against the exact truth. The docs are written only when all seven
ran.

Each result is kept in ``bench/out/cryoet_layouts/`` under a key of the picker's weights and
thresholds, so a later run reuses a tomogram already picked by the same picker; after a change
of the picking code (:mod:`voxpick.cryoet.picking`), run with ``--fresh`` to pick everything
again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.common.czii_layouts import (
    CHOOSE_EXPERIMENTS,
    EXPERIMENTS,
    REPORT_EXPERIMENTS,
    SHAPE,
    check_folds,
    layout_tomogram,
    picks_available,
    score_picks,
)
from bench.common.paths import OUT
from bench.common.report import markdown_table, update_section
from bench.common.splits import FULL_SIZE_TOMOGRAM_SEED
from bench.common.synthetic_tomograms import VOXEL_A
from voxpick.cryoet import (
    DEFAULT_PICKER,
    ClassRefiner,
    PickerModel,
    load_class_refiner,
    load_picker,
    pick,
)
from voxpick.io.atomic import atomic_path
from voxpick.metrics.czii import CZII_PARTICLES
from voxpick.nn.runtime import weights_digest
from voxpick.simulate import simulate_tomogram

TITLE = "Cryo-ET CZII layouts"
COMMAND = "python -m bench.benchmarks.cryoet_layouts"
#: ``--quick``: one small clustered tomogram (random placement, then clusters).
QUICK_SHAPE = (64, 128, 128)
#: Short column names of the classes that count in the CZII score (beta-amylase weighs 0).
SHORT = {"apo-ferritin": "apo", "beta-galactosidase": "b-gal", "ribosome": "ribo",
         "thyroglobulin": "thyro", "virus-like-particle": "VLP"}  # fmt: skip
WEIGHTED = [p.name for p in CZII_PARTICLES if p.weight > 0]


def score_row(table: pd.DataFrame) -> dict[str, float]:
    """Per-class recall and precision of a ``czii_score`` table, as ``R apo``, ``P apo``, ..."""
    recall = dict(zip(table["particle_type"], table["recall"], strict=True))
    precision = dict(zip(table["particle_type"], table["precision"], strict=True))
    row: dict[str, float] = {}
    for name in WEIGHTED:
        row[f"R {SHORT[name]}"] = float(recall[name])
        row[f"P {SHORT[name]}"] = float(precision[name])
    return row


@dataclass(frozen=True)
class Variant:
    """A picker, optionally with a look-alike refiner and the thresholds chosen with it."""

    picker: PickerModel
    refiner: ClassRefiner | None = None
    refiner_text: str = ""

    @property
    def thresholds(self) -> dict[str, float] | None:
        """Thresholds chosen with the refiner on (``None``: the picker's saved ones)."""
        return None if self.refiner is None else dict(self.refiner.info["thresholds"])


def refiner_variant(path: str, pickers: dict[str, PickerModel]) -> tuple[str, Variant]:
    """Name and variant of a refiner JSON of ``bench/recipes/fit_czii_refiner.py``."""
    refiner = load_class_refiner(path)
    name = str(refiner.info.get("picker", ""))
    if not name or "thresholds" not in refiner.info:
        raise SystemExit(f"{path}: no picker/thresholds in its info; fit it with "
                         "python -m bench.recipes.fit_czii_refiner")  # fmt: skip
    if name not in pickers:
        pickers[name] = load_picker(name, device="cpu")
    text = Path(path).with_suffix(".json").read_text()
    return f"{name} + refiner", Variant(pickers[name], refiner, text)


def pick_and_score(variant: Variant, vol: Any, truth: pd.DataFrame) -> dict[str, Any]:
    """Pick ``vol`` with ``variant`` and score it: CZII score, seconds, per-class figures."""
    t0 = time.perf_counter()
    found = pick(vol, model=variant.picker, thresholds=variant.thresholds,
                 classifier=variant.refiner)  # fmt: skip
    seconds = time.perf_counter() - t0
    score, table = score_picks(found, truth, voxel_size=VOXEL_A)
    return {"CZII": score, "seconds": seconds, **score_row(table), "_table": table}


def picker_key(variant: Variant) -> str:
    """Key of a variant's results: weights and thresholds (and the refiner's file, if any)."""
    picker = variant.picker
    digest = hashlib.sha256(weights_digest(picker.net).encode())
    digest.update(json.dumps(picker.thresholds, sort_keys=True).encode())
    if variant.refiner is not None:
        digest.update(variant.refiner_text.encode())
    return digest.hexdigest()[:16]


def cached_result(variant: Variant, experiment: str, *, fresh: bool) -> dict[str, Any]:
    """Pick and score ``experiment``'s tomogram, or read the result of an earlier run."""
    path = OUT / "cryoet_layouts" / f"{experiment}_{picker_key(variant)}.json"
    if path.is_file() and not fresh:
        res = json.loads(path.read_text())
        res["_table"] = pd.DataFrame(res.pop("table"))
        return res
    vol, truth = layout_tomogram(experiment)
    res = pick_and_score(variant, vol, truth)
    keep = {k: v for k, v in res.items() if k != "_table"}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({**keep, "table": res["_table"].to_dict("list")}))
    return res


def summary(rows: pd.DataFrame, pickers: list[str]) -> pd.DataFrame:
    """Mean over the REPORT experiments (and the CHOOSE mean for reference) per picker."""
    out = []
    for name in pickers:
        rep = rows[(rows["picker"] == name) & (rows["split"] == "report")]
        cho = rows[(rows["picker"] == name) & (rows["split"] == "choose")]
        line: dict[str, Any] = {"picker": name, "mean CZII (report)": rep["CZII"].mean(),
                                "min CZII (report)": rep["CZII"].min()}  # fmt: skip
        for name_ in WEIGHTED:
            line[f"R {SHORT[name_]}"] = rep[f"R {SHORT[name_]}"].mean()
        line["mean CZII (choose)"] = cho["CZII"].mean()
        out.append(line)
    return pd.DataFrame(out)


def quick(pickers: list[str]) -> None:
    """Pick one small clustered tomogram with each picker; print, write nothing."""
    vol, truth = simulate_tomogram(
        QUICK_SHAPE, voxel_size=VOXEL_A, density_scale=6.0, clustering=0.6,
        rng=FULL_SIZE_TOMOGRAM_SEED,
    )  # fmt: skip
    for name in pickers:
        res = pick_and_score(Variant(load_picker(name, device="cpu")), vol, truth)
        print(f"{name}: CZII {res['CZII']:.3f} in {res['seconds']:.1f} s")
        print(res["_table"].to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS),
                        choices=EXPERIMENTS, help="default: all seven")  # fmt: skip
    parser.add_argument("--pickers", nargs="+", default=None,
                        help=f"names or paths (default: {DEFAULT_PICKER})")  # fmt: skip
    parser.add_argument("--refiners", nargs="+", default=[],
                        help="JSONs of bench.recipes.fit_czii_refiner")  # fmt: skip
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--quick", action="store_true", help="a small tomogram; writes nothing")
    parser.add_argument("--fresh", action="store_true", help="pick again what was picked")
    args = parser.parse_args()
    pickers = list(dict.fromkeys(args.pickers or [DEFAULT_PICKER]))
    if args.quick:
        quick(pickers)
        return
    if not picks_available():
        print("the CZII picks (../shared/data/cryoet-czii-picks) are absent: nothing to do")
        return
    check_folds()
    models = {name: load_picker(name, device="cpu") for name in pickers}
    loaded = {name: Variant(m) for name, m in models.items()}
    loaded.update(refiner_variant(path, models) for path in args.refiners)
    pickers = list(loaded)
    rows = []
    for exp in args.experiments:
        split = "choose" if exp in CHOOSE_EXPERIMENTS else "report"
        for name, variant in loaded.items():
            res = cached_result(variant, exp, fresh=args.fresh)
            table = res.pop("_table")
            rows.append({"experiment": exp, "split": split, "picker": name, **res})
            print(f"{exp} ({split}) {name}: CZII {res['CZII']:.3f} in {res['seconds']:.0f} s")
            print(table.to_string(index=False), flush=True)
    frame = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    frame.to_csv(OUT / "cryoet_layouts.csv", index=False)
    summ = summary(frame, pickers)
    print(summ.to_string(index=False))
    if args.no_write or set(args.experiments) != set(EXPERIMENTS):
        return
    per_exp = frame.drop(columns=["seconds"])
    body = (
        f"Full-size simulated tomograms ({SHAPE[0]} x {SHAPE[1]} x {SHAPE[2]} at {VOXEL_A} A, "
        f"simulator defaults, seed {FULL_SIZE_TOMOGRAM_SEED}) laid out as the seven CZII "
        "training experiments (positions and types of their expert picks, used as given: "
        "neighbouring apo-ferritin and ribosomes sit 0.7-1 times the sum of their radii apart). "
        f"Chosen on {', '.join(CHOOSE_EXPERIMENTS)} (folds 0-2); reported on "
        f"{', '.join(REPORT_EXPERIMENTS)} (folds 3-6), never looked at before this run. Each "
        "picker with its saved thresholds; CZII score (competition weights, F-beta 4); R / P: "
        "recall / precision of the classes that count (beta-amylase weighs 0). Synthetic data: "
        "not a figure for real tomograms.\n\n"
        "**Mean over the REPORT experiments**\n\n"
        + markdown_table(summ)
        + "\n\n**Per experiment**\n\n"
        + markdown_table(per_exp)
        + "\n\nNo timings here (the pickers may have run at other times on a shared machine; "
        "`pick_full_size` times one). Why packed apo-ferritin is lost, and the clustered-layout "
        "candidate "
        "(`bench/out/picker_v2/picker`, not shipped): docs/cryoet.md, Dense layouts; "
        "`+ refiner`: the look-alike second stage (docs/cryoet.md, Look-alike classes), "
        "fitted and its thresholds chosen on synthetic tomograms only "
        "(`python -m bench.recipes.fit_czii_refiner`)."
    )
    command = COMMAND + (" --pickers " + " ".join(args.pickers) if args.pickers else "")
    command += " --refiners " + " ".join(args.refiners) if args.refiners else ""
    update_section(TITLE, body, command=command)


if __name__ == "__main__":
    main()
