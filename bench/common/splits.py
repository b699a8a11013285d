"""The seed split: which simulator seeds (and DeepFinder tomograms) each recipe and benchmark uses.

Every recipe and benchmark takes its sets from here, so that a test volume can never be a
training or calibration volume by accident (``tests/test_bench.py`` checks the sets are
disjoint). The numbers were fixed before any result was seen; changing one changes every figure
measured on that set.

Colloids (the U-Net, ``bench/recipes/train_default.py``, and the rule-choice benchmarks):

* training: the U-Net's pool volume ``i`` is drawn from ``numpy.random.default_rng([UNET_TRAIN_SEED,
  i])`` (:func:`voxpick.ml.train`), a stream apart from every ``default_rng(seed)`` below;
* calibration: ``CALIBRATION_SEEDS``, where post-processing rules are chosen;
* validation: ``VAL_SEED``, where the U-Net's threshold is chosen and rules are checked;
* test: ``TEST_SEED``, the model card's figures, never used for any choice;
* the accuracy benchmark's own sets: ``ACCURACY_REPORT_SEED`` (reported; the same number as
  ``UNET_TRAIN_SEED`` but drawn with ``default_rng(seed)``, so no volume is shared) and
  ``ACCURACY_CALIBRATION_SEED`` (trackpy's tuning);
* the refine and size-limit benchmarks' reported sets: ``REFINE_SEED``, ``SIZE_LIMIT_SEED``.

Cryo-ET:

* the shipped picker (``bench/recipes/train_picker_default.py``): synthetic tomograms
  ``PICKER_TRAIN`` to train, ``PICKER_VAL`` to choose thresholds, ``PICKER_TEST`` for the model
  card; ``THRESHOLD_STUDY`` (``bench/benchmarks/thresholds.py``) is apart from all three;
* DeepFinder (``bench/benchmarks/cryoet.py``): tomograms ``DEEPFINDER_TRAIN`` to train,
  ``DEEPFINDER_VALIDATION`` to choose thresholds, ``DEEPFINDER_TEST`` to score.

Single fixed volumes (timings, figures) keep their seeds here too, under "Fixed volumes".
"""

from __future__ import annotations

# --------------------------------------------------------------------------- colloids
#: Seed of the shipped U-Net's training run (``TrainConfig.seed``).
UNET_TRAIN_SEED = 20261122
#: Calibration volumes (general ranges, 9 per seed): post-processing rules are chosen here.
CALIBRATION_SEEDS = (778, 779)
#: Threshold-validation volumes: the U-Net's threshold is chosen, rules are checked here.
VAL_SEED = 4242
#: Test volumes of the U-Net's model card; never used for any choice.
TEST_SEED = 5150
#: Reported volumes of the accuracy benchmark (``bench/benchmarks/accuracy.py``).
ACCURACY_REPORT_SEED = 20261122
#: trackpy's tuning volumes in the accuracy benchmark (never reported).
ACCURACY_CALIBRATION_SEED = 777
#: Reported volumes of the refine benchmark (``bench/benchmarks/refine.py``; no choice made).
REFINE_SEED = 2323
#: Reported volumes of the size-limit benchmark (``bench/benchmarks/size_limit.py``).
SIZE_LIMIT_SEED = 2324

# --------------------------------------------------------------------------- cryo-ET picker
PICKER_TRAIN_SEED, PICKER_VAL_SEED, PICKER_TEST_SEED = 1000, 2000, 3000
PICKER_N_TRAIN, PICKER_N_VAL, PICKER_N_TEST = 24, 4, 6
#: Synthetic tomograms that train the shipped picker (and seed its training run).
PICKER_TRAIN = range(PICKER_TRAIN_SEED, PICKER_TRAIN_SEED + PICKER_N_TRAIN)
#: Synthetic tomograms on which the shipped picker's thresholds are chosen.
PICKER_VAL = range(PICKER_VAL_SEED, PICKER_VAL_SEED + PICKER_N_VAL)
#: Synthetic tomograms of the shipped picker's model card; never trained or tuned on.
PICKER_TEST = range(PICKER_TEST_SEED, PICKER_TEST_SEED + PICKER_N_TEST)
#: Fresh synthetic tomograms of the threshold-rule study, apart from the three sets above.
THRESHOLD_STUDY = range(5000, 5040)

# --------------------------------------------------------------------------- DeepFinder
#: DeepFinder tomogram numbers: train, choose thresholds, score (fixed before any result).
DEEPFINDER_TRAIN, DEEPFINDER_VALIDATION, DEEPFINDER_TEST = (1, 2, 3, 4, 5), (6,), (7, 8)
#: Training seed of the DeepFinder benchmark's picker.
DEEPFINDER_TRAIN_SEED = 20261123
#: Training seeds of the seed study (``bench/benchmarks/cryoet_seeds.py``): one picker each.
DEEPFINDER_SEED_STUDY = (20261123, 20261124, 20261125)

# --------------------------------------------------------------------------- fixed volumes
#: The volume the U-Net's model card is timed on (``bench/recipes/train_default.py``).
CARD_SPEED_SEED = 7
#: The volume timed by ``bench/benchmarks/speed.py``.
SPEED_VOLUME_SEED = 1
#: The simulated volumes of ``bench/benchmarks/psf_anisotropy.py``.
PSF_SIMULATED_SEED = 20261130
#: First of the simulated tiles of ``bench/benchmarks/big_volume.py`` (tile ``i``: seed + i).
BIG_VOLUME_TILE_SEED = 100
#: The full-size tomogram of ``bench/benchmarks/pick_full_size.py`` and the CZII-layout ones
#: (``bench/common/czii_layouts.py``).
FULL_SIZE_TOMOGRAM_SEED = 777

# --------------------------------------------------------------------------- CZII layouts
#: Folds (``fold`` column of ``czii_train_picks.csv``) of the CZII experiments whose layouts
#: may be used to diagnose, tune and choose: TS_5_4, TS_86_3, TS_69_2.
CZII_CHOOSE_FOLDS = (0, 1, 2)
#: Folds whose layouts are only reported, never looked at before the final run: TS_99_9,
#: TS_73_6, TS_6_4, TS_6_6.
CZII_REPORT_FOLDS = (3, 4, 5, 6)
#: The volume of ``bench/figures/report_screenshot.py``.
SCREENSHOT_SEED = 0
#: The 128^3 volume the refine benchmark times.
REFINE_TIMING_SEED = 23
#: The simulated time series of ``bench/benchmarks/tracking.py`` (one per seed and volume
#: fraction, :func:`voxpick.simulate.simulate_brownian`).
TRACKING_SEEDS = (2101, 2102, 2103)
