"""The detector contract: estimate once, find block by block, finish once; and the registry.

Every detector (classical, U-Net, auto, and any registered later) implements three steps:

1. :meth:`Detector.estimate`: global parameters from the whole volume (read through a
   :class:`~voxpick.io.source.VolumeSource`, sampled, never loaded whole): noise, blur,
   model, the decision between detectors. Done once.
2. :meth:`Detector.find`: candidates in one block of the volume (its core plus a halo of
   :meth:`Detector.context` voxels), in block coordinates, with the parameters of step 1 fixed.
3. :meth:`Detector.finish`: from the merged candidates of every block, the detections
   (thresholds that need the whole volume's candidates, merging detectors), in the fixed
   schema of :mod:`voxpick.detect.schema`.

:func:`voxpick.tiling.run_detector` runs any detector through these steps over blocks; a
whole-volume :func:`voxpick.locate` is the one-block case. The tiler knows no detector by name:
:func:`get_detector` builds one from the registry (:func:`register_detector`).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from voxpick.detect.schema import DETECTION_COLUMNS
from voxpick.io.source import VolumeSource

Box = tuple[slice, slice, slice]


@dataclass(frozen=True)
class Setup:
    """What every detector is told about a run, in voxels.

    Attributes
    ----------
    diameter_px : tuple of 3 float
        Particle diameter per axis (z, y, x), voxels.
    invert : bool
        Particles are darker than the background.
    shape : tuple of 3 int
        Shape of the whole volume.
    """

    diameter_px: tuple[float, float, float]
    invert: bool
    shape: tuple[int, int, int]


class Detector(ABC):
    """Base class of every detector; see the module docstring for the three steps.

    A detector object holds its user options (validated in ``__init__``) and no state of a
    run: the parameters :meth:`estimate` returns are passed back to every other step, so one
    detector can serve several volumes and its steps can run in other processes.
    """

    #: Registry name, also the value of the ``detector`` column of its rows.
    name: ClassVar[str] = ""

    #: Options of ``__init__`` (keyword names) that :func:`voxpick.locate` may pass.
    options: ClassVar[tuple[str, ...]] = ()

    #: Columns of the finished table: :data:`~voxpick.detect.schema.DETECTION_COLUMNS`, or
    #: :data:`~voxpick.detect.schema.REFINED_COLUMNS` for the refine stage.
    columns: ClassVar[tuple[str, ...]] = DETECTION_COLUMNS

    @abstractmethod
    def estimate(self, source: VolumeSource, setup: Setup) -> dict[str, Any]:
        """Global parameters of a run on ``source``.

        Parameters
        ----------
        source : VolumeSource
            The whole volume.
        setup : Setup
            Diameter, polarity and shape.

        Returns
        -------
        dict
            Parameters; JSON-serialisable values except keys starting with ``_`` (private,
            e.g. a loaded model or cached results), which are left out of ``attrs`` and of
            the resume manifest.
        """

    @abstractmethod
    def context(
        self, setup: Setup, params: dict[str, Any]
    ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """Halo a block needs and the grid blocks must start on.

        Parameters
        ----------
        setup : Setup
        params : dict
            From :meth:`estimate`.

        Returns
        -------
        halo : tuple of 3 int
            Voxels per axis beyond which the detector's output no longer changes.
        align : tuple of 3 int
            Block origins are multiples of this, per axis.
        """

    @abstractmethod
    def find(
        self, block: np.ndarray, setup: Setup, params: dict[str, Any], *, box: Box
    ) -> pd.DataFrame:
        """Candidates in one block.

        Parameters
        ----------
        block : numpy.ndarray
            The voxels of ``box`` (core and halo), as stored.
        setup : Setup
        params : dict
            From :meth:`estimate`.
        box : tuple of 3 slice
            Where ``block`` lies in the whole volume.

        Returns
        -------
        pandas.DataFrame
            Candidates in block voxels: the schema's columns and any private ones
            :meth:`finish` needs.
        """

    @abstractmethod
    def finish(
        self, candidates: pd.DataFrame, setup: Setup, params: dict[str, Any]
    ) -> pd.DataFrame:
        """Return the detections from the candidates of every block (whole-volume voxels).

        Parameters
        ----------
        candidates : pandas.DataFrame
            The merged output of :meth:`find`, each row owned by exactly one block.
        setup : Setup
        params : dict
            From :meth:`estimate`.

        Returns
        -------
        pandas.DataFrame
            The fixed schema (:func:`~voxpick.detect.schema.conform`), any order; ``attrs``
            may add run figures (a threshold chosen from the candidates).
        """


#: Registered detectors: a class, or ``"module:Class"`` imported on first use.
_REGISTRY: dict[str, type[Detector] | str] = {
    "auto": "voxpick.ml.auto:AutoDetector",
    "classical": "voxpick.detect.classical:ClassicalDetector",
    "unet": "voxpick.ml.detector:UNetDetector",
}


def register_detector(name: str, detector: type[Detector] | str) -> None:
    """Make a detector available to :func:`voxpick.locate` as ``method=name``.

    Parameters
    ----------
    name : str
        The method name.
    detector : type or str
        A :class:`Detector` subclass, or ``"module:Class"`` to import on first use.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name={name!r} must be a non-empty string, e.g. 'mydetector'.")
    _REGISTRY[name] = detector


def detector_names() -> list[str]:
    """Names of the registered detectors, sorted.

    Returns
    -------
    list of str
    """
    return sorted(_REGISTRY)


def detector_class(method: str) -> type[Detector]:
    """Return the detector class registered as ``method``.

    Parameters
    ----------
    method : str

    Returns
    -------
    type
    """
    if not isinstance(method, str) or method not in _REGISTRY:
        raise ValueError(
            f"method={method!r} is unknown: expected one of {detector_names()}. "
            "Use method='auto' (the default)."
        )
    entry = _REGISTRY[method]
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
        _REGISTRY[method] = entry
    assert isinstance(entry, type)  # registry invariant, not user input
    return entry


def get_detector(method: str, **options: Any) -> Detector:
    """Build the detector registered as ``method`` with ``options``.

    Parameters
    ----------
    method : str
        A name from :func:`detector_names`.
    **options
        Its options (each must be in the class's ``options``).

    Returns
    -------
    Detector
    """
    cls = detector_class(method)
    unknown = sorted(set(options) - set(cls.options))
    if unknown:
        raise TypeError(
            f"method={method!r} does not take {unknown}: it takes {list(cls.options)}. "
            "Leave those options out, or pick the method that uses them."
        )
    return cls(**options)


def public_params(params: dict[str, Any]) -> dict[str, Any]:
    """Drop the private (``_``-prefixed) parameters, at every level.

    Parameters
    ----------
    params : dict

    Returns
    -------
    dict
        For ``attrs`` and the resume manifest.
    """
    return {
        k: public_params(v) if isinstance(v, dict) else v
        for k, v in params.items()
        if not str(k).startswith("_")
    }
