"""The U-Net at volume faces: what to do with a heatmap peak on the outermost layer.

Usage (from the repository root)::

    python -m bench.benchmarks.unet_faces [--quick]

A particle cut by a volume face and centred beyond it leaves the inner tail of its heatmap blob,
which peaks on the outermost layer of the model-scale heatmap. Three rules are compared on the
same heatmaps and peaks (shipped model, default separation):

* ``keep``: report such peaks like any other;
* ``halve``: halve the score of a centre within a quarter radius of a face (the classical
  detector's rule, :func:`voxpick.detect.peaks.face_factor`; the U-Net's rule until 2026-12-01);
* ``tenth``: score peaks on the outermost layer (:func:`voxpick.ml.infer.on_outer_layer`) a
  tenth of their height, below the threshold: at the thresholds of the table this is dropping
  them (shipped, :data:`voxpick.ml.infer.OUTER_LAYER_FACTOR`).

The rule was chosen on the calibration volumes (general ranges, seeds 778 and 779, 9 each) and
the threshold then checked on the threshold-validation volumes of
``bench/recipes/train_default.py`` (seed 4242); neither set is reported as test figures. Writes
the section "U-Net faces" of docs/benchmarks.md: mean F1 at the model's threshold and at the
best threshold of the 0.05 grid (groups weighted equally), precision and recall at the model's
threshold.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from bench.common.colloids import THRESHOLDS, measure_rule_sets, simulate_condition
from bench.common.report import markdown_table, update_section
from bench.common.splits import CALIBRATION_SEEDS, VAL_SEED
from voxpick.detect.peaks import face_factor
from voxpick.metrics import evaluate
from voxpick.ml.infer import (
    DEFAULT_SEPARATION,
    OUTER_LAYER_FACTOR,
    find_peaks,
    on_outer_layer,
    predict_heatmap,
)
from voxpick.ml.scale import from_model_coords, model_zoom, normalize_intensity, to_model_scale

RULES = ("keep", "halve", "tenth")


def candidates(volume: np.ndarray, d: float, model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (input voxels), heights and outer-layer flags of every peak >= 0.05."""
    scaled, zoom = to_model_scale(volume, model_zoom((d, d, d), model.model_diameter))
    logits = predict_heatmap(normalize_intensity(scaled, invert=False), model)
    points, heights = find_peaks(
        logits,
        threshold=0.05,
        peak_radius=max(1, round(0.25 * model.model_diameter)),
        min_separation=DEFAULT_SEPARATION * model.model_diameter,
    )
    return from_model_coords(points, zoom), heights, on_outer_layer(points, logits.shape)


def measure(conds: list[dict], model, name: str) -> list[dict]:
    rows = []
    for c in conds:
        sim = simulate_condition(c)
        d = 2 * c["radius"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pos, height, outer = candidates(sim.volume, d, model)
        scores = {
            "keep": height,
            "halve": height * face_factor(pos, sim.volume.shape, (d, d, d)),
            "tenth": np.where(outer, OUTER_LAYER_FACTOR * height, height),
        }
        for rule, score in scores.items():
            row = {"set": name, "group": c["group"], "rule": rule}
            for t in THRESHOLDS:
                kept = pd.DataFrame(pos[score >= t], columns=["z", "y", "x"])
                ev = evaluate(sim.truth, kept, diameter=d)
                row[t] = ev.f1
                if np.isclose(t, model.threshold):
                    row["precision"], row["recall"] = ev.precision, ev.recall
            rows.append(row)
        print(name, c["group"], c["volfrac"], flush=True)
    return rows


def main() -> None:
    df, cal, val, model, quick = measure_rule_sets(measure)
    cols = [*THRESHOLDS, "precision", "recall"]
    per_group = df.groupby(["set", "rule", "group"])[cols].mean()
    out = []
    for (name, rule), sub in per_group.groupby(level=["set", "rule"]):
        mean = sub.mean()
        f1 = mean[list(THRESHOLDS)].astype(float)
        groups = sub[model.threshold].to_numpy(dtype=float)
        out.append({
            "volumes": name, "rule": rule,
            f"F1 at {model.threshold:g}": float(f1[model.threshold]),
            "best F1": float(f1.max()), "at": f"{f1.idxmax():g}",
            "precision": float(mean["precision"]), "recall": float(mean["recall"]),
            "per group F1": " / ".join(f"{v:.3f}" for v in groups),
        })  # fmt: skip
    table = pd.DataFrame(out).sort_values(["volumes", "rule"], key=lambda s: s.map(
        {"calibration": 0, "validation": 1, **{r: i for i, r in enumerate(RULES)}}))  # fmt: skip
    text = markdown_table(table)
    print(text)
    if quick:
        return
    groups = " / ".join(df[df["set"] == "validation"]["group"].unique())
    body = (
        f"Calibration: {len(cal)} volumes of the general ranges (seeds "
        f"{', '.join(map(str, CALIBRATION_SEEDS))}), where the rule was chosen. Validation: "
        f"the {len(val)} threshold-validation volumes (seed {VAL_SEED}; groups {groups}, "
        "weighted equally). Shipped model, default separation, the same peaks for every rule; "
        "precision and recall at the model's threshold.\n\n" + text
    )
    update_section("U-Net faces", body, command="python -m bench.benchmarks.unet_faces")


if __name__ == "__main__":
    main()
