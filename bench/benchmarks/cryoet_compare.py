"""Cryo-ET picker comparison: a classical baseline, the voxpick picker and a SegResNet, per class.

Usage (from the repository root; ``python -m bench`` runs the first line)::

    python -m bench.benchmarks.cryoet_compare                  # both parts, trained models reused
    python -m bench.benchmarks.cryoet_compare --train          # train the DeepFinder networks first
    python -m bench.benchmarks.cryoet_compare --part czii      # one part only (or deepfinder)
    python -m bench.benchmarks.cryoet_compare --picker "U-Net, fine-tuned=DIR/picker"
                                        # one more DeepFinder picker (trained on tomo1-5)
    python -m bench.benchmarks.cryoet_compare --quick          # seconds, simulated, no docs

Pickers compared:

* classical: :func:`voxpick.cryoet.pick_blobs` (Laplacian-of-Gaussian blobs at the class
  radii, class of closest size), its per-class thresholds chosen with
  :func:`voxpick.cryoet.choose_thresholds` (``prior=0``: its scores are no probabilities);
* the voxpick picker: the MONAI U-Net of :func:`voxpick.cryoet.train_picker`;
* another network family: MONAI SegResNet (``ModelSpec(architecture="segresnet")``), trained
  by the same loop on the same crops.

Part ``deepfinder`` (the split of ``bench/benchmarks/cryoet.py``): the networks are trained on
tomo1-5 (``--train``: from scratch, :data:`TRAIN_STEPS` steps of :data:`TRAIN_PATCH`^3 crops each,
the same budget for both; models in ``--models``, outside the package), every picker's
thresholds are chosen on tomo6 and the figures are tomo7-8's. Part ``czii``: the full-size
tomograms laid out as the CZII experiments (:mod:`bench.common.czii_layouts`); the classical
thresholds are chosen on the CHOOSE experiments, the shipped picker keeps its own (chosen on its
synthetic validation tomograms), and the figures are the REPORT experiments'. A SegResNet
trained on the shipped picker's synthetic tomograms would be the fair third there; it is not
trained here (the budget of this benchmark), which the section says.

Per picker and class: precision, recall, F-beta 4 (:func:`voxpick.metrics.czii_score`); the
confusion table and the failure analysis of :mod:`bench.common.pick_analysis` (what missed
particles were picked as, what false picks sit on, crowding and contrast of missed particles).
Writes the section "Cryo-ET picker comparison" of docs/benchmarks.md (each part's text is kept
in ``bench/out/cryoet_compare/PART.md``, so one part can be rerun alone).
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import czii_layouts
from bench.common.deepfinder import DATA, VOXEL_A, class_radii, in_angstrom, load
from bench.common.paths import OUT as BENCH_OUT
from bench.common.pick_analysis import (
    confused_with,
    confusion_table,
    failure_summary,
    neighbour_context,
    particle_contrast,
)
from bench.common.report import markdown_table, update_section
from bench.common.splits import (
    DEEPFINDER_TEST,
    DEEPFINDER_TRAIN,
    DEEPFINDER_TRAIN_SEED,
    DEEPFINDER_VALIDATION,
)
from voxpick.cryoet import (
    DEFAULT_PICKER,
    PickerClass,
    PickerTrainConfig,
    choose_thresholds,
    labelled_tomogram,
    load_picker,
    pick,
    pick_blobs,
    train_picker,
)
from voxpick.io.atomic import atomic_path
from voxpick.metrics.czii import CZII_PARTICLES, CziiParticle, czii_outcomes, czii_score
from voxpick.nn.model import ModelSpec

TITLE = "Cryo-ET picker comparison"
OUT = BENCH_OUT / "cryoet_compare"
QUICK_OUT = BENCH_OUT / "quick" / "cryoet_compare"
#: Trained models of the comparison (outside the package; ``--models`` changes it).
MODELS = Path("/tmp/compare")
#: The SegResNet: MONAI's encoder of 1, 2, 2, 4 residual blocks from 8 filters (three
#: down-sampling levels, as the U-Net). 16 filters ran 3.5 s a step on 2 shared cores against
#: 2 s for 8: too slow for the budget.
SEGRESNET = ModelSpec(channels=(8, 16, 32, 64), architecture="segresnet")
#: Training budget of each DeepFinder network (from scratch, on 2 shared CPU cores).
TRAIN_STEPS, TRAIN_PATCH = 500, 32
#: The networks of part ``deepfinder``: label, model folder under ``--models``, architecture.
NETWORKS = {
    "voxpick U-Net": ("deepfinder_unet", ModelSpec()),
    "SegResNet": ("deepfinder_segresnet", SEGRESNET),
}
CLASSICAL = "classical (LoG blobs)"


def train_deepfinder(out: Path, *, model: ModelSpec, steps: int, patch: int, seed: int) -> float:
    """Train one picker on DeepFinder tomo1-5 into ``out/picker``; returns seconds."""
    classes = deepfinder_classes()
    tomos = []
    for i in DEEPFINDER_TRAIN:
        vol, picks = load(i)
        tomos.append(labelled_tomogram(vol, picks, classes, voxel_size=VOXEL_A, name=f"tomo{i}"))
    cfg = PickerTrainConfig(
        steps=steps, patch=patch, seed=seed, log_every=25, ckpt_every=100, warmup=50,
        model=model, threads=2,
    )  # fmt: skip
    t0 = time.perf_counter()
    train_picker(tomos, classes, cfg, out, voxel_size=VOXEL_A, progress=False)
    return time.perf_counter() - t0


def deepfinder_classes() -> list[PickerClass]:
    """The nine DeepFinder classes, radii from tomo1-6's label maps (Angstrom)."""
    radii = class_radii(DEEPFINDER_TRAIN + DEEPFINDER_VALIDATION)
    return [PickerClass(name, r * VOXEL_A) for name, r in radii.items()]


class Runner:
    """Picks one dataset's tomograms with every picker; thresholds from the choice set.

    With ``cache``, every tomogram's picks are kept there (``LABEL_NAME.parquet``, with the
    seconds they took) and read back by a later run: delete the folder after a change.
    """

    def __init__(
        self,
        tomograms: dict[str, tuple[np.ndarray, pd.DataFrame]],
        voxel_a: float,
        cache: Path | None = None,
    ):
        self.tomograms, self.voxel_a, self.cache = tomograms, voxel_a, cache
        self.seconds: dict[str, float] = {}

    def picks(self, names: tuple[str, ...], how, label: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Run ``how(volume)`` on tomograms ``names``: picks and truth, Angstrom."""
        found, truth, seconds = [], [], 0.0
        for name in names:
            vol, ref = self.tomograms[name]
            key = "".join(ch if ch.isalnum() else "_" for ch in f"{label}_{name}")
            path = None if self.cache is None else self.cache / f"{key}.parquet"
            if path is not None and path.is_file():
                got = pd.read_parquet(path)
            else:
                t0 = time.perf_counter()
                got = how(vol).assign(seconds=0.0)
                got.attrs = {}
                got["seconds"] = time.perf_counter() - t0
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_path(path) as tmp:
                        got.to_parquet(tmp, index=False)
            seconds += float(got["seconds"].iloc[0]) if len(got) else 0.0
            got = got.drop(columns="seconds")
            found.append(in_angstrom(got, voxel_size=self.voxel_a, experiment=name))
            truth.append(in_angstrom(ref, voxel_size=self.voxel_a, experiment=name))
        self.seconds[label] = seconds / len(names)
        return pd.concat(found, ignore_index=True), pd.concat(truth, ignore_index=True)


def above(cand: pd.DataFrame, thresholds: dict[str, float]) -> pd.DataFrame:
    """The candidates (``thresholds=0`` picks) at or above their class's threshold.

    The same picks as picking with the thresholds: the suppression of close picks is greedy
    from the best down, so dropping weaker candidates never changes what a stronger one keeps.
    """
    keep = cand["score"].to_numpy() >= cand["particle_type"].map(thresholds).to_numpy(float)
    return cand[keep].reset_index(drop=True)


def thresholds_of(chosen: pd.DataFrame) -> dict[str, float]:
    """The ``{class: threshold}`` of a :func:`choose_thresholds` table."""
    return dict(zip(chosen["particle_type"], chosen["threshold"], strict=True))


def evaluate(
    sub: pd.DataFrame, ref: pd.DataFrame, particles: list[CziiParticle], runner: Runner
) -> dict[str, object]:
    """Score, per-class table, outcomes and failure analysis of one picker's test picks."""
    score, table = czii_score(ref, sub, beta=4, particles=particles)
    names = [p.name for p in particles]
    radii = {p.name: p.radius_A for p in particles}
    sub = sub[sub["particle_type"].isin(names)]
    ref = neighbour_context(ref[ref["particle_type"].isin(names)], radii)
    contrast = np.zeros(len(ref))
    for exp, idx in ref.groupby("experiment").indices.items():
        vol = runner.tomograms[str(exp)][0]
        part = ref.iloc[idx]
        centres = part[["z", "y", "x"]].to_numpy(float) / runner.voxel_a
        contrast[idx] = particle_contrast(
            vol, centres, part["particle_type"].map(radii).to_numpy(float) / runner.voxel_a
        )
    ref = ref.assign(contrast=contrast)
    picks, truth = czii_outcomes(ref, sub, particles=particles)
    return {
        "score": score, "table": table, "confusion": confusion_table(picks, truth, names),
        "confused": {n: confused_with(picks, truth, n) for n in names},
        "failures": failure_summary(truth),
    }  # fmt: skip


def compare_table(results: dict[str, dict], particles: list[CziiParticle]) -> pd.DataFrame:
    """One row per class: its radius and truth count, then P / R / F4 of every picker."""
    first = next(iter(results.values()))["table"].set_index("particle_type")
    rows = []
    for p in particles:
        row: dict[str, object] = {
            "class": p.name, "radius (A)": round(p.radius_A), "weight": p.weight,
            "n": int(first.loc[p.name, "n_truth"]),
        }  # fmt: skip
        for label, res in results.items():
            t = res["table"].set_index("particle_type").loc[p.name]
            row[f"{label}: P / R / F4"] = (
                f"{t['precision']:.2f} / {t['recall']:.2f} / {t['fbeta']:.2f}"
            )
        rows.append(row)
    rows.append(
        {"class": "**score**", "radius (A)": "", "weight": "", "n": "",
         **{f"{k}: P / R / F4": f"**{v['score']:.3f}**" for k, v in results.items()}}
    )  # fmt: skip
    return pd.DataFrame(rows)


def failures_table(results: dict[str, dict]) -> pd.DataFrame:
    """The failure summaries of every picker, one table."""
    parts = [res["failures"].assign(picker=label) for label, res in results.items()]
    out = pd.concat(parts, ignore_index=True)
    return out[["picker", *[c for c in out.columns if c != "picker"]]]


def confusion_text(results: dict[str, dict]) -> str:
    """Per picker: each class's misses and false picks, what they were confused with."""
    lines = []
    for label, res in results.items():
        lines.append(f"*{label}*: " + "; ".join(
            f"{n.replace('class_', 'c')} ({t})" for n, t in res["confused"].items()
        ))  # fmt: skip
    return "\n\n".join(lines)


def run_deepfinder(args: argparse.Namespace) -> str:
    """Part ``deepfinder``: returns its markdown text."""
    classes = deepfinder_classes()
    radii = {c.name: c.radius_A for c in classes}
    particles = [CziiParticle(c.name, c.radius_A, 1) for c in classes]
    trained: dict[str, float] = {}
    if args.train:
        for label, (folder, spec) in NETWORKS.items():
            trained[label] = train_deepfinder(
                args.models / folder, model=spec, steps=args.steps, patch=args.patch,
                seed=DEEPFINDER_TRAIN_SEED,
            )  # fmt: skip
    nets: dict[str, Path] = {
        label: args.models / folder / "picker" for label, (folder, _) in NETWORKS.items()
    }
    nets.update(args.picker)
    tomos = {f"tomo{i}": load(i) for i in DEEPFINDER_VALIDATION + DEEPFINDER_TEST}
    runner = Runner(tomos, VOXEL_A)
    val = tuple(f"tomo{i}" for i in DEEPFINDER_VALIDATION)
    test = tuple(f"tomo{i}" for i in DEEPFINDER_TEST)
    results: dict[str, dict] = {}
    notes: list[str] = []

    def blobs(thr):
        return lambda v: pick_blobs(v, classes=classes, voxel_size=VOXEL_A, thresholds=thr)

    cand, ref = runner.picks(val, blobs(0.0), "val")
    thr = thresholds_of(choose_thresholds(cand, ref, radii_A=radii, beta=4, prior=0.0))
    sub, ref = runner.picks(test, blobs(thr), CLASSICAL)
    results[CLASSICAL] = evaluate(sub, ref, particles, runner)
    for label, path in nets.items():
        if not Path(path).with_suffix(".pt").is_file():
            notes.append(f"{label}: no model at {path} (train with --train)")
            continue
        picker = load_picker(path, device="cpu")
        cand, ref = runner.picks(val, lambda v, p=picker: pick(v, model=p, thresholds=0.0), "val")
        thr = thresholds_of(choose_thresholds(cand, ref, radii_A=radii, beta=4))
        sub, ref = runner.picks(
            test, lambda v, p=picker, t=thr: pick(v, model=p, thresholds=t), label
        )
        results[label] = evaluate(sub, ref, particles, runner)
        info = picker.info
        secs = trained.get(label, float(info.get("train_seconds", 0.0)))
        cfg = info.get("train_config", {})
        notes.append(
            f"{label}: {info.get('steps')} steps of {cfg.get('batch_size')} crops of "
            f"{cfg.get('patch')}^3, {secs / 60:.0f} min on 2 shared CPU cores, "
            + (f"fine-tuned from {info['init']}" if info.get("init") else "from scratch")
            + (
                f" (`python -m bench.benchmarks.cryoet --steps {info.get('steps')}"
                + (f" --init {info['init']}" if info.get("init") else "")
                + " --no-write --out DIR`)"
                if label in args.picker
                else ""
            )
        )
    body = (
        "DeepFinder simulated tomograms (split of `bench/benchmarks/cryoet.py`: networks trained "
        "on tomo1-5, every picker's thresholds chosen for F4 on tomo6, scored on tomo7-8; "
        "9 classes x 6 test particles, weight 1 each). Training budgets: "
        + "; ".join(notes)
        + ". Classical: no training, the class radii only. For reference, the full recipe of "
        "`bench/benchmarks/cryoet.py` (6000 steps fine-tuned, about 50 min on 2 idle cores, "
        'then refit on tomo1-6) gives 0.916 ("Cryo-ET picking, DeepFinder tomograms"): '
        "the budgets here are far below it. Wall times were taken on a machine shared with "
        "other jobs (load 6 to 14 on 2 cores): they do not compare the networks' speed.\n\n"
        + markdown_table(compare_table(results, particles))
        + "\n\nPicking time per 100^3 tomogram: "
        + ", ".join(f"{k} {runner.seconds[k]:.1f} s" for k in results)
        + ".\n\nConfusion (what each class's misses were picked as, and what its false picks "
        "sit on; c = class_):\n\n"
        + confusion_text(results)
        + "\n\nFailure analysis (tomo7-8; nn / (r1 + r2): nearest particle's distance over the "
        "two radii, 1 = touching; contrast: darkness of the particle's core over the noise):\n\n"
        + markdown_table(failures_table(results))
    )
    save_detail(args.out, "deepfinder", results)
    return body


def run_czii(args: argparse.Namespace) -> str:
    """Part ``czii``: classical against the shipped picker on the REPORT layouts."""
    if not czii_layouts.picks_available():
        return ""
    czii_layouts.check_folds()
    picker = load_picker(args.czii_picker, device="cpu")
    classes = list(picker.classes)
    radii = {c.name: c.radius_A for c in classes}
    particles = list(CZII_PARTICLES)
    choose, report = czii_layouts.CHOOSE_EXPERIMENTS, czii_layouts.REPORT_EXPERIMENTS
    if args.quick_czii:
        choose, report = choose[:1], report[:1]
    va = czii_layouts.VOXEL_A
    tomos = {}
    for exp in choose + report:
        vol, truth = czii_layouts.layout_tomogram(exp)
        tomos[exp] = (vol, truth[["particle_type", "z", "y", "x"]])
    runner = Runner(tomos, va, cache=None if args.quick_czii else args.out / "czii_picks")

    blobs = functools.partial(pick_blobs, classes=classes, voxel_size=va, thresholds=0.0)
    cand, ref = runner.picks(choose + report, blobs, CLASSICAL)
    at_choose = cand["experiment"].isin(choose).to_numpy()
    thr = thresholds_of(
        choose_thresholds(
            cand[at_choose], ref[ref["experiment"].isin(choose)], radii_A=radii, beta=4, prior=0.0
        )
    )
    results: dict[str, dict] = {}
    sub, ref = cand[~at_choose], ref[ref["experiment"].isin(report)]
    results[CLASSICAL] = evaluate(above(sub, thr), ref, particles, runner)
    label = f"voxpick picker ({Path(str(args.czii_picker)).name})"
    sub, ref = runner.picks(report, lambda v: pick(v, model=picker, thresholds=0.0), label)
    results[label] = evaluate(above(sub, picker.thresholds), ref, particles, runner)
    body = (
        f"Full-size simulated tomograms (184 x 630 x 630 at {va} A, simulator defaults, seed "
        f"777) laid out as the CZII experiments {', '.join(report)} (the REPORT folds; "
        f"the classical thresholds were chosen on {', '.join(choose)}, the picker's are its "
        "own, chosen on its synthetic validation tomograms). CZII weights (beta-amylase 0). "
        "No SegResNet here: a fair one would be trained on the shipped picker's 24 synthetic "
        "tomograms (`bench/recipes/train_picker_default.py`), beyond this benchmark's budget.\n\n"
        + markdown_table(compare_table(results, particles))
        + "\n\nPicking time per tomogram (2 shared CPU cores): "
        + ", ".join(f"{k} {runner.seconds[k]:.0f} s" for k in results)
        + ".\n\nConfusion:\n\n"
        + confusion_text(results)
        + "\n\nFailure analysis:\n\n"
        + markdown_table(failures_table(results))
    )
    save_detail(args.out, "czii", results)
    return body


def save_detail(out: Path, part: str, results: dict[str, dict]) -> None:
    """Keep the per-class tables and confusion matrices (CSV) for docs/cryoet.md."""
    out.mkdir(parents=True, exist_ok=True)
    for label, res in results.items():
        stem = part + "_" + "".join(ch if ch.isalnum() else "_" for ch in label).strip("_")
        res["confusion"].to_csv(out / f"{stem}_confusion.csv")
        res["table"].to_csv(out / f"{stem}_table.csv", index=False)
        res["failures"].to_csv(out / f"{stem}_failures.csv", index=False)
    scores = {label: float(res["score"]) for label, res in results.items()}
    (out / f"{part}_scores.json").write_text(json.dumps(scores, indent=1))


def run_quick(out: Path) -> None:
    """Every step on two small simulated tomograms, with networks of two training steps."""
    from voxpick.simulate import ParticleClass, simulate_tomogram

    kinds = (
        ParticleClass("small", 4.0, count=6, density=2.0),
        ParticleClass("large", 8.0, count=3),
    )
    classes = [PickerClass(k.name, k.radius_A) for k in kinds]
    particles = [CziiParticle(c.name, c.radius_A, 1) for c in classes]
    radii = {c.name: c.radius_A for c in classes}
    tomos = {}
    for seed in (0, 1):
        vol, truth = simulate_tomogram(
            (48,) * 3, classes=kinds, voxel_size=1.0, defocus_um=None, snr=5.0, rng=seed
        )
        tomos[f"sim{seed}"] = (vol, truth[["particle_type", "z", "y", "x"]])
    runner = Runner(tomos, 1.0)
    results = {}

    def blobs(thr):
        return lambda v: pick_blobs(v, classes=classes, voxel_size=1.0, thresholds=thr)

    cand, ref = runner.picks(("sim0",), blobs(0.0), "val")
    thr = thresholds_of(choose_thresholds(cand, ref, radii_A=radii, beta=4, prior=0.0))
    sub, ref = runner.picks(("sim1",), blobs(thr), CLASSICAL)
    results[CLASSICAL] = evaluate(sub, ref, particles, runner)
    train = [labelled_tomogram(*tomos["sim0"], classes, voxel_size=1.0, name="sim0")]
    for arch in ("unet", "segresnet"):
        spec = ModelSpec(channels=(8, 16), strides=(2,), architecture=arch)
        cfg = PickerTrainConfig(steps=2, batch_size=1, patch=16, model=spec, warmup=1)
        res = train_picker(
            train, classes, cfg, out / arch, voxel_size=1.0, progress=False, log=None
        )
        net = load_picker(res.model_path, device="cpu")
        sub, ref = runner.picks(("sim1",), lambda v, m=net: pick(v, model=m, thresholds=0.0), arch)
        results[arch] = evaluate(sub, ref, particles, runner)
    print(markdown_table(compare_table(results, particles)))
    print(confusion_text(results))
    print(markdown_table(failures_table(results)))


def parse_picker(text: str) -> tuple[str, Path]:
    """``LABEL=PATH`` of ``--picker``."""
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"--picker {text!r}: expected LABEL=PATH")
    return label, Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("deepfinder", "czii"), nargs="+",
                        default=["deepfinder", "czii"])  # fmt: skip
    parser.add_argument("--train", action="store_true", help="train the DeepFinder networks")
    parser.add_argument("--steps", type=int, default=TRAIN_STEPS)
    parser.add_argument("--patch", type=int, default=TRAIN_PATCH)
    parser.add_argument("--models", type=Path, default=MODELS)
    parser.add_argument("--picker", type=parse_picker, action="append", default=[],
                        help="LABEL=PATH: another tomo1-5 DeepFinder picker")  # fmt: skip
    parser.add_argument("--czii-picker", default=DEFAULT_PICKER)
    parser.add_argument("--quick-czii", action="store_true", help="one CHOOSE, one REPORT layout")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--quick", action="store_true", help="seconds, simulated, no docs")
    args = parser.parse_args()
    args.picker = dict(args.picker)
    if args.quick:
        run_quick(QUICK_OUT)
        return
    texts = {}
    if "deepfinder" in args.part and DATA.exists():
        texts["deepfinder"] = run_deepfinder(args)
    if "czii" in args.part:
        texts["czii"] = run_czii(args)
    for part, text in texts.items():
        print(text, "\n")
        if text and not args.no_write and not args.quick_czii:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"{part}.md").write_text(text)
    if args.no_write or args.quick_czii:
        return
    parts = [
        ("### DeepFinder tomograms", args.out / "deepfinder.md"),
        ("### CZII-layout full-size tomograms", args.out / "czii.md"),
    ]
    body = "\n\n".join(f"{head}\n\n{p.read_text()}" for head, p in parts if p.is_file())
    if body:
        extra = "".join(f' --picker "{k}={v}"' for k, v in args.picker.items())
        command = "python -m bench.benchmarks.cryoet_compare --train" + extra
        update_section(TITLE, body, command=command)


if __name__ == "__main__":
    main()
