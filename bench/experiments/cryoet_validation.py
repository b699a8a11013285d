"""How well trained pickers tell the DeepFinder classes apart on the validation tomogram (tomo6).

Usage (from the repository root)::

    python -m bench.experiments.cryoet_validation OUT/seed_20261123/picker OUT/seed_20261124/picker

For each picker (trained on tomo1-5 by ``bench/benchmarks/cryoet.py``), the class probabilities
at the 27 true centres of tomo6 are averaged over a vote region and renormalised without the
background, as :func:`voxpick.cryoet.pick` does; printed are the mean log-probability of
each particle's true class and the fraction whose most probable class is the true one (top-1),
for the 3x3x3 cube and for the label ball of the smallest class (what ``pick`` uses).
These are the validation figures the cryo-ET recipe choices were made on; tomo7-8 (the test
tomograms) are not read. Prints a table; writes nothing. The figures it gave are recorded in
docs/cryoet.md (the recipe choices: class vote, crop rotations).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common.deepfinder import load
from bench.common.splits import DEEPFINDER_VALIDATION as VALIDATION
from voxpick.cryoet import load_picker
from voxpick.cryoet.data import label_ball_radius, normalize_tomogram
from voxpick.cryoet.picking import _class_shares
from voxpick.nn.predict import predict_channels

CUBE = float(np.sqrt(3.0))  # the ball of this radius is the 3x3x3 cube


def true_class_votes(path: Path) -> list[dict[str, object]]:
    """Mean true-class log-probability and top-1 on the validation tomograms, per vote region."""
    picker = load_picker(path, device="cpu")
    names = [c.name for c in picker.classes]
    ball = label_ball_radius(min(picker.radius_voxels().values()))
    scores: dict[str, list[np.ndarray]] = {"3x3x3 cube": [], "label ball": []}
    for i in VALIDATION:
        vol, picks = load(i)
        maps = predict_channels(
            normalize_tomogram(vol), picker.net, device=picker.device,
            size_multiple=picker.spec.size_multiple, margin=16,
        )  # fmt: skip
        maps -= np.logaddexp.reduce(maps, axis=0)
        idx = np.rint(picks[["z", "y", "x"]].to_numpy(float)).astype(int)
        truth = picks["particle_type"].map(names.index).to_numpy(int)
        for region, radius in (("3x3x3 cube", CUBE), ("label ball", ball)):
            shares = _class_shares(maps, np.zeros(maps.shape[1:]), idx, radius)
            scores[region].append(np.column_stack([shares[np.arange(len(idx)), truth],
                                                   shares.argmax(axis=1) == truth]))  # fmt: skip
    rows = []
    for region, parts in scores.items():
        both = np.concatenate(parts)
        rows.append({
            "picker": str(path), "vote region": region,
            "true-class log-probability": float(np.log(np.maximum(both[:, 0], 1e-9)).mean()),
            "top-1": float(both[:, 1].mean()), "particles": len(both),
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pickers", type=Path, nargs="+", help="picker paths (DIR/picker)")
    args = parser.parse_args()
    rows = [row for path in args.pickers for row in true_class_votes(path)]
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
