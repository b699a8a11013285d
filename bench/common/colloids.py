"""Simulated colloid volume sets: their conditions, simulation, and the rule-choice harness.

:func:`conditions` draws the seeded simulation conditions of the U-Net's validation and test
sets and of the calibration sets (seeds in :mod:`bench.common.splits`); :func:`simulate_condition`
simulates one; :func:`measure_rule_sets` runs a measurement on the calibration and validation
sets, as every rule-choice benchmark does.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from bench.common.splits import CALIBRATION_SEEDS, VAL_SEED

#: Peak thresholds scanned when a U-Net threshold is chosen or checked.
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.1, 0.91, 0.05))
PHIS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.55)


def conditions(seed: int, n_general: int, n_challenge: int) -> list[dict[str, Any]]:
    """Seeded simulation conditions: a broad mix and the challenge's hard test condition.

    ``particle_size`` is the challenge's (the particle radius in um), so the ranges are its
    training (0.1-1) and test (0.21-0.30) values.
    """
    gen = np.random.default_rng(seed)
    out = []
    for i in range(n_general):
        snr = float(gen.uniform(1.0, 10.0))
        out.append({
            "group": "general", "size": 96, "volfrac": PHIS[i % len(PHIS)],
            "radius": float(gen.uniform(3.0, 10.0)), "particle_size": float(gen.uniform(0.1, 1.0)),
            "snr": snr, "cnr": float(min(gen.uniform(1.0, 10.0), snr)),
            "polydispersity": float(gen.uniform(0.0, 0.08)),
            "brightness": float(gen.uniform(120, 230)), "seed": int(gen.integers(2**31 - 1)),
        })  # fmt: skip
    for _ in range(n_challenge):
        out.append({
            "group": "phi0.55 SNR=CNR=3", "size": 128, "volfrac": 0.55,
            "radius": float(gen.uniform(6.0, 11.0)),
            "particle_size": float(gen.uniform(0.21, 0.30)), "snr": 3.0, "cnr": 3.0,
            "polydispersity": 0.0, "brightness": float(gen.uniform(120, 230)),
            "seed": int(gen.integers(2**31 - 1)),
        })  # fmt: skip
    return out


#: Keys of a :func:`conditions` entry that are :func:`~voxpick.simulate.simulate_volume` arguments.
SIM_KEYS = ("volfrac", "radius", "particle_size", "snr", "cnr", "polydispersity", "brightness")


def simulate_condition(c: dict[str, Any], **overrides: Any) -> Any:
    """Simulate the volume of one :func:`conditions` entry; ``overrides`` replace its settings."""
    from voxpick.simulate import simulate_volume

    return simulate_volume(c["size"], rng=c["seed"], **({k: c[k] for k in SIM_KEYS} | overrides))


def rule_sets(quick: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Calibration and validation conditions for choosing a rule (1 + 1 and 2 + 2 if quick)."""
    n_cal = 1 if quick else 9
    cal = [c for s in CALIBRATION_SEEDS for c in conditions(s, n_cal, 0)]
    return cal, conditions(VAL_SEED, 2 if quick else 18, 2 if quick else 6)


class RuleRun(NamedTuple):
    """What :func:`measure_rule_sets` measured: the rows, both condition sets, the model."""

    df: pd.DataFrame
    cal: list[dict[str, Any]]
    val: list[dict[str, Any]]
    model: Any
    quick: bool


def measure_rule_sets(
    measure: Callable[[list[dict[str, Any]], Any, str], list[dict[str, Any]]],
) -> RuleRun:
    """Parse ``--quick``, load the shipped model on the CPU and measure both rule sets.

    Parameters
    ----------
    measure : callable
        ``measure(conditions, model, set_name)`` returning one dict per volume.

    Returns
    -------
    RuleRun
        The calibration rows (``set_name`` "calibration") followed by the validation ones.
    """
    from voxpick.ml import load_model

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="6 volumes, not for docs")
    quick = parser.parse_args().quick
    model = load_model(device="cpu")
    cal, val = rule_sets(quick)
    rows = measure(cal, model, "calibration") + measure(val, model, "validation")
    return RuleRun(pd.DataFrame(rows), cal, val, model, quick)
