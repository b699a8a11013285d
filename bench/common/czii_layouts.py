"""Full-size tomograms laid out as the seven CZII experiments, simulated once per machine.

Each tomogram (184 x 630 x 630 at the CZII voxel size) is :func:`voxpick.simulate.
simulate_tomogram` at its defaults with the particle positions and types of one CZII training
experiment's expert picks (../shared/data/cryoet-czii-picks, read in place;
:func:`voxpick.simulate.czii_layout`). Simulating one takes about a minute and 3 GB, so the
volume and its truth are kept under :func:`cache_dir` (``$VOXPICK_BENCH_CACHE``, default
``~/.cache/voxpick-bench``) as ``.npy`` / ``.parquet``, written atomically.

Which experiments may be tuned on and which are reported is fixed in
:mod:`bench.common.splits` (the ``fold`` column): :data:`CHOOSE_EXPERIMENTS` and
:data:`REPORT_EXPERIMENTS`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common.paths import DATA
from bench.common.splits import CZII_CHOOSE_FOLDS, CZII_REPORT_FOLDS, FULL_SIZE_TOMOGRAM_SEED
from bench.common.synthetic_tomograms import VOXEL_A
from voxpick.io import picks_to_angstrom
from voxpick.io.atomic import atomic_path
from voxpick.metrics.czii import CZII_PARTICLES, czii_score
from voxpick.simulate import czii_layout, simulate_tomogram

#: The CZII expert picks (x, y, z in Angstrom, particle_type, experiment, fold).
PICKS = DATA / "cryoet-czii-picks" / "czii_train_picks.csv"
#: Shape of a CZII tomogram (z, y, x) at :data:`VOXEL_A`.
SHAPE = (184, 630, 630)
#: Environment variable naming the cache folder.
CACHE_ENV = "VOXPICK_BENCH_CACHE"

#: Experiment of each fold of ``czii_train_picks.csv`` (fixed; checked against the file).
FOLD_EXPERIMENTS = {
    0: "TS_5_4", 1: "TS_86_3", 2: "TS_69_2", 3: "TS_99_9", 4: "TS_73_6", 5: "TS_6_4", 6: "TS_6_6"
}  # fmt: skip
#: Experiments on which anything may be diagnosed, tuned or chosen.
CHOOSE_EXPERIMENTS = tuple(FOLD_EXPERIMENTS[f] for f in CZII_CHOOSE_FOLDS)
#: Experiments reported only, never looked at before the final run.
REPORT_EXPERIMENTS = tuple(FOLD_EXPERIMENTS[f] for f in CZII_REPORT_FOLDS)
#: All seven, CHOOSE first.
EXPERIMENTS = CHOOSE_EXPERIMENTS + REPORT_EXPERIMENTS


def picks_available() -> bool:
    """Return whether the CZII expert picks are on this machine."""
    return PICKS.is_file()


def cache_dir() -> Path:
    """Return the folder of cached tomograms (``$VOXPICK_BENCH_CACHE`` or ``~/.cache/...``)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "voxpick-bench"


def check_folds() -> None:
    """Raise if the picks file's ``fold`` column disagrees with :data:`FOLD_EXPERIMENTS`."""
    folds = pd.read_csv(PICKS, usecols=["experiment", "fold"]).drop_duplicates()
    found = dict(zip(folds["fold"].astype(int), folds["experiment"].astype(str), strict=True))
    if found != FOLD_EXPERIMENTS:
        raise ValueError(
            f"{PICKS} assigns folds {found}: expected {FOLD_EXPERIMENTS} (bench/common/"
            "splits.py). The split is fixed; a changed file needs a new split, not a silent one."
        )


def layout_tomogram(
    experiment: str, *, seed: int = FULL_SIZE_TOMOGRAM_SEED
) -> tuple[np.ndarray, pd.DataFrame]:
    """Return the full-size tomogram laid out as ``experiment`` and its truth (cached).

    Parameters
    ----------
    experiment : str
        One of :data:`EXPERIMENTS`, e.g. ``"TS_5_4"``.
    seed : int
        Simulation seed (:func:`voxpick.simulate.simulate_tomogram` ``rng``).

    Returns
    -------
    volume : numpy.ndarray
        float32 (184, 630, 630), particles dark.
    truth : pandas.DataFrame
        ``particle_type, z, y, x`` (voxels), ``z_A, y_A, x_A``, ``radius_A``: the simulator's
        truth table (particles whose centre lies inside the tomogram).
    """
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment={experiment!r} is unknown: expected one of {EXPERIMENTS}.")
    if not picks_available():
        raise FileNotFoundError(
            f"{PICKS} is absent: the CZII layouts need ../shared/data/cryoet-czii-picks."
        )
    stem = cache_dir() / f"czii_{experiment}_{SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}_seed{seed}"
    vol_path, truth_path = stem.with_suffix(".npy"), stem.with_suffix(".parquet")
    if vol_path.is_file() and truth_path.is_file():
        return np.load(vol_path), pd.read_parquet(truth_path)
    layout = czii_layout(PICKS, experiment=experiment, voxel_size=VOXEL_A)
    vol, truth = simulate_tomogram(SHAPE, layout=layout, voxel_size=VOXEL_A, rng=seed)
    # the truth first: a volume file present means both are complete
    with atomic_path(truth_path) as tmp:
        truth.attrs = {}  # parquet keeps attrs as JSON metadata; shape tuples do not round-trip
        truth.to_parquet(tmp, index=False)
    with atomic_path(vol_path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, vol)
    return vol, truth


def solution_frame(truth: pd.DataFrame, *, experiment: str = "tomo") -> pd.DataFrame:
    """Return the CZII solution (Angstrom) of a simulator truth, scored classes only."""
    sol = pd.DataFrame(
        {
            "experiment": experiment,
            "particle_type": truth["particle_type"].to_numpy(),
            "z": truth["z_A"].to_numpy(),
            "y": truth["y_A"].to_numpy(),
            "x": truth["x_A"].to_numpy(),
        }
    )
    return sol[sol["particle_type"].isin([p.name for p in CZII_PARTICLES])]


def score_submission(
    submission: pd.DataFrame, truth: pd.DataFrame, *, experiment: str = "tomo"
) -> tuple[float, pd.DataFrame]:
    """Return the CZII score and per-class table of a submission (Angstrom) against ``truth``.

    ``submission`` has columns ``experiment, particle_type, x, y, z`` (Angstrom) with
    ``experiment`` equal to ``experiment``, as written by :func:`voxpick.io.write_submission`.
    """
    return czii_score(solution_frame(truth, experiment=experiment), submission)


def score_picks(
    picks: pd.DataFrame, truth: pd.DataFrame, *, voxel_size: float = VOXEL_A
) -> tuple[float, pd.DataFrame]:
    """Return the CZII score and per-class table of :func:`voxpick.cryoet.pick` output.

    ``picks`` are in voxels of the tomogram (``particle_type, z, y, x``); ``truth`` is the
    simulator's (its ``z_A, y_A, x_A`` columns are used).
    """
    sub = picks_to_angstrom(picks, voxel_size=voxel_size).assign(experiment="tomo")
    return score_submission(sub, truth, experiment="tomo")
