"""Cryo-ET particle picking: everything cryo-ET in voxpick, under one name.

* Pick: :func:`pick` finds particles of every class of a trained picker in a tomogram (the
  shipped :data:`DEFAULT_PICKER` by default); :func:`pick_copick` picks a copick run;
  :func:`pick_blobs` is the classical baseline (Laplacian-of-Gaussian blobs classed by size).
* Train: :func:`train_picker` on :func:`labelled_tomogram` data, or
  :func:`train_picker_copick` on a copick project's labelled runs; :func:`choose_thresholds`
  sets the per-class thresholds on validation data; :func:`fit_class_refiner` fits a second
  stage for look-alike classes (``pick(..., classifier=...)``).
* Store: :func:`load_picker`, :func:`save_picker`, :func:`ensemble_pickers`.
* Export: :func:`export_picks` writes picks as a CSV, a RELION STAR file or an IMOD point or
  model file, chosen by the file's suffix.
* Re-exported from the other stages, where they live: CZII CSV, MRC, OME-Zarr and copick IO
  (:mod:`voxpick.io`), the CZII metric (:mod:`voxpick.metrics`) and the tomogram simulator
  (:mod:`voxpick.simulate`).

See ``docs/cryoet.md``.
"""

from voxpick.cryoet.classical import pick_blobs
from voxpick.cryoet.classify import ClassRefiner, fit_class_refiner, load_class_refiner
from voxpick.cryoet.copick import copick_classes, pick_copick, train_picker_copick
from voxpick.cryoet.data import LabelledTomogram, labelled_tomogram, make_labels
from voxpick.cryoet.export import PICK_FILE_FORMATS, export_picks, pick_file_format
from voxpick.cryoet.picking import pick
from voxpick.cryoet.store import (
    DEFAULT_PICKER,
    PickerClass,
    PickerModel,
    ensemble_pickers,
    load_picker,
    save_picker,
)
from voxpick.cryoet.thresholds import choose_thresholds
from voxpick.cryoet.train import PickerTrainConfig, train_picker
from voxpick.io import (
    list_runs,
    open_project,
    particle_objects,
    picks_to_angstrom,
    picks_to_voxels,
    read_mrc,
    read_ome_zarr,
    read_picks,
    read_star,
    read_submission,
    read_tomogram,
    write_imod_model,
    write_imod_points,
    write_mrc,
    write_ome_zarr,
    write_picks,
    write_picks_csv,
    write_star,
    write_submission,
)
from voxpick.metrics import CZII_PARTICLES, CziiParticle, czii_score
from voxpick.nn.train import TrainResult
from voxpick.simulate import CZII_LIKE_CLASSES, ParticleClass, czii_layout, simulate_tomogram

__all__ = [
    "CZII_LIKE_CLASSES",
    "CZII_PARTICLES",
    "DEFAULT_PICKER",
    "PICK_FILE_FORMATS",
    "ClassRefiner",
    "CziiParticle",
    "LabelledTomogram",
    "ParticleClass",
    "PickerClass",
    "PickerModel",
    "PickerTrainConfig",
    "TrainResult",
    "choose_thresholds",
    "copick_classes",
    "czii_layout",
    "czii_score",
    "ensemble_pickers",
    "export_picks",
    "fit_class_refiner",
    "labelled_tomogram",
    "list_runs",
    "load_class_refiner",
    "load_picker",
    "make_labels",
    "open_project",
    "particle_objects",
    "pick",
    "pick_blobs",
    "pick_copick",
    "pick_file_format",
    "picks_to_angstrom",
    "picks_to_voxels",
    "read_mrc",
    "read_ome_zarr",
    "read_picks",
    "read_star",
    "read_submission",
    "read_tomogram",
    "save_picker",
    "simulate_tomogram",
    "train_picker",
    "train_picker_copick",
    "write_imod_model",
    "write_imod_points",
    "write_mrc",
    "write_ome_zarr",
    "write_picks",
    "write_picks_csv",
    "write_star",
    "write_submission",
]
