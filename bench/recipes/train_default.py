"""Train the shipped heatmap U-Net and install it into the package.

Usage (from the repository root)::

    python -m bench.recipes.train_default                    # v1's recipe, ~30 min, 2 CPU cores
    python -m bench.recipes.train_default --resume           # continue after an interruption
    python -m bench.recipes.train_default --install-only     # copy finished weights in
    python -m bench.recipes.train_default --validate --write # choose the threshold, write card
    python -m bench.recipes.train_default --init unet_colloids_v1 --steps N --seed S --lr LR \
        --name unet_colloids_v2 --out bench/out/train_v2   # continue a shipped model
        [--ranges '{"p_dense": 0.6}']                      # with other training ranges
        [--channels 24,48,96,192]                          # a wider network
        [--channels 8,16,32,64 --res-units 1]              # a faster one

Runs :func:`voxpick.ml.train` with the default :class:`~voxpick.ml.TrainConfig` (seed
``UNET_TRAIN_SEED`` of :mod:`bench.common.splits` unless ``--seed``) into ``--out`` (default
``bench/out/train_default/``) and, when it finishes, copies ``model.pt``/``model.json`` to
``src/voxpick/nn/weights/NAME.{pt,json}`` (``--name``, default ``unet_colloids_v1``).
``--validate --write`` chooses the default peak threshold on validation volumes (``VAL_SEED``)
and writes the test figures (``TEST_SEED``) into that JSON and the model card.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.common.colloids import THRESHOLDS, conditions, simulate_condition
from bench.common.paths import DATA, OUT, WEIGHTS
from bench.common.peers import trackpy_tuned
from bench.common.real_volumes import VOLUMES, load, structure
from bench.common.splits import CARD_SPEED_SEED, TEST_SEED, UNET_TRAIN_SEED, VAL_SEED
from voxpick.ml import TrainConfig, train

DEFAULT_NAME = "unet_colloids_v1"
COMMAND = "python -m bench.recipes.train_default"


def install(run_dir: Path, name: str) -> None:
    info = json.loads((run_dir / "model.json").read_text())
    info["name"] = name
    info.setdefault("date", time.strftime("%Y-%m-%d"))
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "model.pt", WEIGHTS / f"{name}.pt")
    (WEIGHTS / f"{name}.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"installed {WEIGHTS / name}.pt/.json")


# --------------------------------------------------------------------------- validation
def run_trackpy(volume: np.ndarray, d: float) -> pd.DataFrame:
    """trackpy as an expert sets it for dense samples (:mod:`bench.common.peers`), mass as score."""
    found = trackpy_tuned(volume, (d, d, d), False)
    return found.rename(columns={"mass": "score"})[["z", "y", "x", "score"]]


def score_all(truth: pd.DataFrame, found: pd.DataFrame, d: float) -> dict[str, float]:
    """AP, recall at precision >= 0.95 and the best F1 over score cut-offs."""
    from voxpick.metrics import evaluate, pr_curve

    curve = pr_curve(truth, found, diameter=d)
    ok = curve[curve["precision"] >= 0.95 - 1e-9]
    p, r = curve["precision"].to_numpy(), curve["recall"].to_numpy()
    f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
    ev = evaluate(truth, found, diameter=d)
    return {
        "ap": ev.ap, "r@p95": float(ok["recall"].max()) if len(ok) else 0.0,
        "best_f1": float(f1.max()) if len(f1) else 0.0,
        "precision": ev.precision, "recall": ev.recall, "f1": ev.f1, "error_px": ev.mean_error,
    }  # fmt: skip


def evaluate_set(conds: list[dict[str, Any]], model: Any, *, others: bool) -> pd.DataFrame:
    from voxpick import locate
    from voxpick.metrics import evaluate

    rows = []
    for i, c in enumerate(conds):
        sim = simulate_condition(c)
        d = 2 * c["radius"]
        t0 = time.perf_counter()
        found = locate(sim.volume, diameter=d, method="unet", model=model, threshold=0.05)
        dt = time.perf_counter() - t0
        row = {**c, "n_true": len(sim.truth), "unet_s": dt}
        for t in THRESHOLDS:
            ev = evaluate(sim.truth, found[found["heatmap"] >= t], diameter=d)
            row[f"f1@{t}"] = ev.f1
        at = found[found["heatmap"] >= model.threshold]
        row.update({f"unet_{k}": v for k, v in score_all(sim.truth, at, d).items()})
        for k in ("ap", "r@p95", "best_f1"):  # score-swept figures use every candidate
            row[f"unet_{k}"] = score_all(sim.truth, found, d)[k]
        if others:
            cl = locate(sim.volume, diameter=d, method="classical")
            row.update({f"classical_{k}": v for k, v in score_all(sim.truth, cl, d).items()})
            tp = run_trackpy(sim.volume, d)
            row.update({f"trackpy_{k}": v for k, v in score_all(sim.truth, tp, d).items()})
        rows.append(row)
        print(f"  [{i + 1}/{len(conds)}] {c['group']} phi={c['volfrac']} r={c['radius']:.1f} "
              f"snr={c['snr']:.1f} f1={row['unet_f1']:.3f} ap={row['unet_ap']:.3f} "
              f"{dt:.1f}s", flush=True)  # fmt: skip
    return pd.DataFrame(rows)


def summary_table(df: pd.DataFrame, methods: list[str]) -> str:
    cols = ["ap", "r@p95", "best_f1", "precision", "recall", "f1", "error_px"]
    lines = ["| group | n | method | AP | recall@P>=0.95 | best F1 | precision | recall | F1 | "
             "error px |", "|---" * 10 + "|"]  # fmt: skip
    groups = [("all", df), *((g, df[df["group"] == g]) for g in df["group"].unique())]
    for name, sub in groups:
        for m in methods:
            vals = " | ".join(f"{sub[f'{m}_{c}'].mean():.3f}" for c in cols)
            lines.append(f"| {name} | {len(sub)} | {m} | {vals} |")
    return "\n".join(lines)


def speed(model: Any, repeats: int = 3) -> dict[str, float]:
    from voxpick import locate
    from voxpick.simulate import simulate_volume

    sim = simulate_volume(
        128, radius=4, volfrac=0.5, particle_size=0.25, snr=5, cnr=3, rng=CARD_SPEED_SEED
    )
    locate(sim.volume[:48, :48, :48], diameter=8, method="unet", model=model)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        locate(sim.volume, diameter=8, method="unet", model=model)
        times.append(time.perf_counter() - t0)
    return {"median_s": float(np.median(times)), "worst_s": float(max(times))}


def real_volumes(model: Any) -> str:
    """Counts and structure of the U-Net's and the classical method's picks on real volumes."""
    from voxpick import locate

    lines = ["| volume | shape | diameter | method | found | phi detected | median NN / d | "
             "NN < 0.8 d | g(r) first peak / d |", "|---" * 9 + "|"]  # fmt: skip
    for name, (rel, shape, dia, dark, _) in VOLUMES.items():
        if not (DATA / rel).exists():
            continue
        vol = load(rel, shape)
        for method in ("unet", "classical"):
            kw = {"model": model} if method == "unet" else {}
            df = locate(vol, diameter=dia, method=method, invert=dark, **kw)
            f = structure(df, dia, vol.shape)
            lines.append(
                f"| {name} | {'x'.join(map(str, vol.shape))} | {'/'.join(f'{d:g}' for d in dia)}"
                f" | {method} | {len(df)} | {f['phi_detected']:.3f} | {f['nn_median_d']:.2f} | "
                f"{f['nn_below_0.8d']:.3f} | {f['gr_peak_d']:.2f} |"
            )
    return "\n".join(lines)


def validate(args: argparse.Namespace) -> None:
    from voxpick.ml import load_model

    name = args.name
    model = load_model(WEIGHTS / name if not args.model else args.model, device="cpu")
    quick = args.quick
    print("validation set (threshold choice), seed", VAL_SEED, flush=True)
    val = evaluate_set(conditions(VAL_SEED, 6 if quick else 18, 2 if quick else 6), model,
                       others=False)  # fmt: skip
    per_group = val.groupby("group")[[f"f1@{t}" for t in THRESHOLDS]].mean().mean()
    best = float(THRESHOLDS[int(np.argmax(per_group.to_numpy()))])
    f1_curve = {float(t): round(float(v), 3) for t, v in zip(THRESHOLDS, per_group, strict=True)}
    print("mean F1 by threshold (groups weighted equally):", f1_curve)
    print(f"chosen threshold {best}", flush=True)
    model.threshold = best
    print("test set (reported), seed", TEST_SEED, flush=True)
    test = evaluate_set(conditions(TEST_SEED, 6 if quick else 24, 2 if quick else 10), model,
                        others=not args.no_others)  # fmt: skip
    methods = ["unet"] if args.no_others else ["unet", "classical", "trackpy"]
    table = summary_table(test, methods)
    sp = speed(model)
    real = real_volumes(model)
    print(table, "\n", sp, "\n", real, flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    test.to_csv(OUT / "unet_test.csv", index=False)
    val.to_csv(OUT / "unet_val.csv", index=False)
    if args.write:
        js = WEIGHTS / f"{name}.json"
        info = json.loads(js.read_text())
        info["threshold"] = best
        f1_by_t = {str(t): round(float(v), 4) for t, v in zip(THRESHOLDS, per_group, strict=True)}
        info["validation"] = {
            "threshold_choice": {"seed": VAL_SEED, "n_volumes": len(val), "mean_f1": f1_by_t},
            "test": {"seed": TEST_SEED, "n_volumes": len(test), "table_markdown": table},
            "speed_128": sp,
            "real_volumes_markdown": real,
            "command": f"{COMMAND} --validate --write",
        }
        js.write_text(json.dumps(info, indent=2) + "\n")
        card = WEIGHTS / f"{name}.md"
        card.write_text(model_card(info))
        print(f"wrote threshold and validation figures to {js} and the model card {card}")


def model_card(info: dict[str, Any]) -> str:
    """The model card (markdown) shipped beside the weights, from the measured figures."""
    cfg = info["train_config"]
    ranges, val = cfg["ranges"], info["validation"]

    def rng(key: str) -> str:
        lo, hi = ranges[key]
        return f"{lo:g}-{hi:g}"

    dense = f"{ranges['p_dense']:.0%} of volumes dense, {rng('dense_volfrac')}"
    kinds = f"{ranges['p_invert']:.0%}; gel-like {ranges['p_gel']:.0%}; FCC {ranges['p_fcc']:.0%}"
    choice, test = val["threshold_choice"], val["test"]
    spec, default = cfg["model"], TrainConfig().model
    units = spec["num_res_units"]
    recipe = f"{COMMAND} --name {info['name']}"
    if tuple(spec["channels"]) != default.channels:
        recipe += f" --channels {','.join(str(c) for c in spec['channels'])}"
    if units != default.num_res_units:
        recipe += f" --res-units {units}"
    validate_cmd = f"{COMMAND} --name {info['name']} --validate --write"
    if info["name"] == DEFAULT_NAME:
        used_for = (
            'for `voxpick.locate(volume, diameter=..., method="unet")` and for the default\n'
            '`method="auto"` on crowded volumes'
        )
    else:
        used_for = (
            f'for `voxpick.locate(volume, diameter=..., model="{info["name"]}")` (methods\n'
            '"unet" and "auto"; docs/ml.md compares it with the default model)'
        )
    return f"""# Model card: `{info["name"]}`

A 3D U-Net (MONAI `UNet`, channels {tuple(spec["channels"])}, {units} residual unit(s) per
block) predicting a particle-centre heatmap, {used_for}. Trained
{info.get("date", "")} on the CPU ({info["torch"]}),
{info["steps"]} steps in {info["train_seconds"] / 60:.0f} min, seed {cfg["seed"]}:
`{recipe}` reproduces it; `{validate_cmd}` chose the threshold and
measured the figures below.

## Training data (simulated on the fly by `voxpick.simulate`, nothing else)

| parameter | range |
|---|---|
| volume fraction | {rng("volfrac")} ({dense}) |
| polydispersity | {rng("polydispersity")} |
| radius (px) | {rng("radius")}, resampled to a diameter of {info["model_diameter"]:g} voxels |
| particle_size (um) | {rng("particle_size")}; PSF z/xy aspect {rng("psf_aspect")} |
| SNR / CNR | {rng("snr")} / {rng("cnr")} |
| dark particles | {kinds} |
| illumination gradient | {ranges["p_gradient"]:.0%} of volumes, up to {ranges["gradient"][1]:g} |

Not seen in training: real microscope data, non-spherical particles, cryo-ET contrast.

## Threshold

{info["threshold"]:g} (heatmap peak height), the best mean F1 on {choice["n_volumes"]}
validation volumes (seed {choice["seed"]}, never reported).

## Test figures (seed {test["seed"]}, {test["n_volumes"]} volumes, never used for any choice)

Matching at distance < r; AP, recall at precision >= 0.95 and best F1 sweep the score.

{test["table_markdown"]}

Speed, 128^3 volume, CPU: median {val["speed_128"]["median_s"]:.2f} s.

## Real volumes (no truth)

With the diameters the data suggests. Distances are in diameters per axis.

{val["real_volumes_markdown"]}

Where many neighbours sit closer than 0.8 diameter, `voxpick.analysis.check_diameter` tells a
diameter that is too large (abraham, katherine: located again with the diameter it suggests, the
structure becomes plausible) from over-detection (levke_v1/v2, noisy and elongated along z) or a
diameter that is too small (abraham_old, whose particles are about three times the suggested
diameter across); see docs/analysis.md and the "Real volumes" table of docs/benchmarks.md.

See docs/benchmarks.md for the full benchmark against the classical method and trackpy.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT / "train_default")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=UNET_TRAIN_SEED)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--install-only", action="store_true")
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument("--validate", action="store_true", help="choose threshold, report figures")
    ap.add_argument("--quick", action="store_true", help="small validation (smoke test)")
    ap.add_argument("--no-others", action="store_true", help="skip classical and trackpy")
    ap.add_argument("--write", action="store_true", help="store threshold + figures in the JSON")
    ap.add_argument("--model", default=None, help="validate this model instead")
    ap.add_argument("--init", default=None, help="start from this model (name or path)")
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate")
    ap.add_argument("--name", default=DEFAULT_NAME, help="shipped name to install/validate as")
    ap.add_argument(
        "--ranges", default=None, help='JSON of SampleRanges fields, e.g. {"p_dense": 0.6}'
    )
    ap.add_argument("--channels", default=None, help="U-Net channels per level, e.g. 24,48,96,192")
    ap.add_argument("--res-units", type=int, default=None, help="residual units per U-Net block")
    args = ap.parse_args()
    if args.validate:
        validate(args)
        return
    if not args.install_only:
        cfg = TrainConfig(seed=args.seed, log_every=25)
        if args.steps is not None:
            cfg = replace(cfg, steps=args.steps)
        if args.lr is not None:
            cfg = replace(cfg, lr=args.lr)
        if args.ranges is not None:
            cfg = replace(cfg, ranges=replace(cfg.ranges, **json.loads(args.ranges)))
        if args.channels is not None:
            chans = tuple(int(c) for c in args.channels.split(","))
            cfg = replace(cfg, model=replace(cfg.model, channels=chans))
        if args.res_units is not None:
            cfg = replace(cfg, model=replace(cfg.model, num_res_units=args.res_units))
        t0 = time.time()
        res = train(cfg, args.out, resume=args.resume, init=args.init, progress=False)
        minutes = (time.time() - t0) / 60
        print(
            f"trained {res.steps} steps in {res.seconds / 60:.1f} min "
            f"(this session {minutes:.1f} min) -> {res.model_path}",
            flush=True,
        )
    if not args.no_install:
        install(args.out, args.name)


if __name__ == "__main__":
    main()
