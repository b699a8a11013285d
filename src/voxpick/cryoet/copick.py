"""Training and picking straight from a copick project (``voxpick train --copick``, ``pick``).

Classes and radii come from the project's pickable objects (``is_particle`` with a radius);
tomograms are read at one voxel spacing, and picks of every run given are the labels. Runs set
aside with ``validation_runs`` choose the per-class thresholds that maximise F-beta; without
them the thresholds are chosen on the training runs (optimistic, and said so in the model's
description).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from voxpick.cryoet.data import LabelledTomogram, labelled_tomogram
from voxpick.cryoet.picking import PICK_TILE, pick
from voxpick.cryoet.store import PickerClass, PickerModel, load_picker, save_picker
from voxpick.cryoet.thresholds import RULES, choose_thresholds
from voxpick.cryoet.train import PickerTrainConfig, train_picker
from voxpick.io.copick_project import (
    list_runs,
    open_project,
    particle_objects,
    read_picks,
    read_tomogram,
    refuse_existing_picks,
    write_picks,
)
from voxpick.io.czii_csv import picks_to_angstrom, picks_to_voxels
from voxpick.nn.train import TrainResult
from voxpick.validation import as_triple

__all__ = ["copick_classes", "pick_copick", "train_picker_copick"]


def copick_classes(root: Any) -> list[PickerClass]:
    """Return the project's particle classes: pickable particles that have a radius."""
    objects = particle_objects(open_project(root))
    keep = objects.loc[objects["is_particle"] & objects["radius_A"].notna()]
    if keep.empty:
        raise ValueError(
            "the copick project has no pickable object with is_particle=true and a radius: "
            "add radii (Angstrom) to pickable_objects in its config."
        )
    pairs = zip(keep["name"], keep["radius_A"], strict=True)
    return [PickerClass(str(n), float(r)) for n, r in pairs]


def _load_run(
    root: Any, run: str, *, voxel_spacing: float | None, tomo_type: str | None, **filters: Any
) -> tuple[Any, tuple[float, float, float], pd.DataFrame]:
    volume, voxel_size = read_tomogram(root, run, voxel_spacing=voxel_spacing, tomo_type=tomo_type)
    picks = read_picks(root, run, **filters)
    return volume, voxel_size, picks


def train_picker_copick(
    config: Any,
    out: str | Path,
    *,
    runs: Sequence[str] | None = None,
    validation_runs: Sequence[str] = (),
    voxel_spacing: float | None = None,
    tomo_type: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    train_config: PickerTrainConfig | None = None,
    init: str | Path | None = None,
    beta: float = 4.0,
    threshold_rule: str = "calibrated",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train (or fine-tune with ``init``) a picker on a copick project's labelled runs.

    Parameters
    ----------
    config : str, os.PathLike or copick root
        The project (see :func:`voxpick.io.open_project`).
    out : str or pathlib.Path
        Output directory; the picker is ``out/picker.pt`` + ``out/picker.json``.
    runs : sequence of str, optional
        Training runs; default every run with picks that is not a validation run.
    validation_runs : sequence of str
        Runs used only to choose the per-class thresholds.
    voxel_spacing, tomo_type : optional
        Which tomogram of each run (see :func:`voxpick.io.read_tomogram`).
    user_id, session_id : str, optional
        Use only the picks of this user (or tool) and session as labels.
    train_config : PickerTrainConfig, optional
        Training settings.
    init : str or pathlib.Path, optional
        A picker to fine-tune from.
    beta : float
        F-beta the thresholds maximise (4: CZII).
    threshold_rule : {"calibrated", "argmax"}
        How the thresholds are chosen (see :func:`voxpick.cryoet.choose_thresholds`).
    progress : bool
        Progress bar on stderr.
    log : callable, optional
        Receives progress lines.

    Returns
    -------
    TrainResult
    """
    if threshold_rule not in RULES:  # checked before, not after, the training
        raise ValueError(f"threshold_rule={threshold_rule!r} is unknown: expected one of {RULES}.")
    root = open_project(config)
    classes = copick_classes(root)
    say = log or (lambda msg: print(msg, file=sys.stderr))
    all_runs = list_runs(root)
    unknown = [r for r in [*(runs or ()), *validation_runs] if r not in all_runs]
    if unknown:
        raise ValueError(f"unknown runs {unknown}: the project has {all_runs}.")
    train_runs = list(runs) if runs is not None else [
        r for r in all_runs if r not in validation_runs
    ]  # fmt: skip
    filters = {"user_id": user_id, "session_id": session_id}
    tomos: list[LabelledTomogram] = []
    spacing: float | None = None
    for run in train_runs:
        volume, vs, picks = _load_run(
            root, run, voxel_spacing=voxel_spacing, tomo_type=tomo_type, **filters
        )
        if picks.empty:
            say(f"run {run}: no picks, skipped")
            continue
        spacing = spacing or vs[0]
        if abs(vs[0] - spacing) > 1e-3 * spacing:
            raise ValueError(
                f"run {run} has voxel spacing {vs[0]:g} A but earlier runs {spacing:g} A: pass "
                "voxel_spacing= (--voxel-spacing) to train on one spacing."
            )
        px = picks_to_voxels(picks, voxel_size=vs)
        tomos.append(labelled_tomogram(volume, px, classes, voxel_size=vs[0], name=run))
        say(f"run {run}: {volume.shape} at {vs[0]:g} A, {len(picks)} picks")
    if not tomos or spacing is None:
        raise ValueError(
            f"no training run has picks (runs {train_runs}, user_id={user_id!r}, "
            f"session_id={session_id!r}): label some runs first or relax the filters."
        )
    result = train_picker(
        tomos, classes, train_config, out, voxel_size=spacing, init=init, progress=progress,
        log=log,
    )  # fmt: skip
    chosen_on = list(validation_runs) or [t.name for t in tomos]
    cands, truths = [], []
    picker = load_picker(result.model_path, device=None)
    for run in chosen_on:
        volume, vs, picks = _load_run(
            root, run, voxel_spacing=voxel_spacing, tomo_type=tomo_type, **filters
        )
        found = pick(volume, model=picker, voxel_size=vs, thresholds=0.0)
        cands.append(picks_to_angstrom(found, voxel_size=vs).assign(experiment=run))
        truths.append(picks.assign(experiment=run))
    table = choose_thresholds(
        pd.concat(cands, ignore_index=True), pd.concat(truths, ignore_index=True),
        radii_A={c.name: c.radius_A for c in classes}, beta=beta, rule=threshold_rule,
    )  # fmt: skip
    thresholds = dict(zip(table["particle_type"], table["threshold"].astype(float), strict=True))
    info = {
        **picker.info,
        "thresholds_chosen_on": chosen_on,
        "thresholds_on_training_runs": not validation_runs,
        "validation": table.to_dict(orient="records"),
        "beta": beta,
        "threshold_rule": threshold_rule,
    }
    save_picker(
        picker.net, classes=classes, voxel_size=spacing, thresholds=thresholds, info=info,
        path=result.model_path,
    )  # fmt: skip
    return result


def pick_copick(
    config: Any,
    run: str,
    *,
    model: PickerModel | str | Path | None = None,
    voxel_spacing: float | None = None,
    tomo_type: str | None = None,
    voxel_size: Any = None,
    thresholds: Mapping[str, float] | float | None = None,
    tile: int = PICK_TILE,
    tta: bool = False,
    classifier: Any = None,
    device: str | torch.device | None = None,
    progress: Callable[[int, int], None] | None = None,
    write_back: bool = False,
    user_id: str = "voxpick",
    session_id: str = "0",
    overwrite: bool = False,
) -> pd.DataFrame:
    """Pick every class of a picker in one run of a copick project (``voxpick pick --copick``).

    Parameters
    ----------
    config : str, os.PathLike or copick root
        The project (see :func:`voxpick.io.open_project`).
    run : str
        The run to pick.
    model : PickerModel, str or pathlib.Path, optional
        See :func:`voxpick.cryoet.pick`; default the shipped picker.
    voxel_spacing, tomo_type : optional
        Which tomogram of the run (see :func:`voxpick.io.read_tomogram`).
    voxel_size : float or sequence of 3 float, optional
        Angstrom per voxel of the tomogram, overriding the project's voxel spacing.
    thresholds, tile, tta, classifier, device, progress
        As for :func:`voxpick.cryoet.pick`.
    write_back : bool
        Also write the picks into the run (one copick picks file per class).
    user_id, session_id : str
        copick ids of the written picks.
    overwrite : bool
        Replace existing picks of the same classes, user and session; without it they are an
        error, raised before any picking.

    Returns
    -------
    pandas.DataFrame
        ``particle_type, z, y, x`` (Angstrom), ``score`` and ``experiment`` (the run);
        ``attrs["shape"]`` and ``attrs["voxel_size"]`` describe the picked tomogram.
    """
    root = open_project(config)
    picker = model if isinstance(model, PickerModel) else load_picker(model, device=device)
    if write_back and not overwrite:  # before the picking, not after it
        names = [c.name for c in picker.classes]
        refuse_existing_picks(root, run, names, user_id=user_id, session_id=session_id)
    volume, vs = read_tomogram(root, run, voxel_spacing=voxel_spacing, tomo_type=tomo_type)
    if voxel_size is not None:
        vs = as_triple(voxel_size, name="voxel_size")
    found = pick(
        volume, model=picker, voxel_size=vs, thresholds=thresholds, tile=tile, progress=progress,
        tta=tta, classifier=classifier,
    )  # fmt: skip
    picks = picks_to_angstrom(found, voxel_size=vs).assign(experiment=run)
    if write_back:
        write_picks(root, run, picks, user_id=user_id, session_id=session_id, overwrite=overwrite)
    picks.attrs.update(shape=tuple(int(n) for n in volume.shape), voxel_size=tuple(vs))
    return picks
