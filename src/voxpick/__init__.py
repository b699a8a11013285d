"""voxpick: find every particle in noisy 3D microscopy volumes.

:func:`locate` (:mod:`voxpick.api`) is the main entry point; :func:`refine`
(:mod:`voxpick.refinement`) fits the image model to its result; :func:`batch` locates every frame
of a time series (:mod:`voxpick.series`) and :func:`link` joins them into trajectories. The
stages are sub-packages, imported on first use: :mod:`voxpick.simulate`, :mod:`voxpick.detect`,
:mod:`voxpick.ml`, :mod:`voxpick.tiling`, :mod:`voxpick.cryoet`, :mod:`voxpick.metrics`,
:mod:`voxpick.analysis`, :mod:`voxpick.io`, :mod:`voxpick.plot`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBPACKAGES = {
    "analysis", "api", "cli", "cryoet", "detect", "io", "metrics", "ml", "nn", "plot",
    "refinement", "series", "simulate", "tiling",
}  # fmt: skip

#: Functions available as ``voxpick.NAME``, by the module that defines them.
_API = {
    "locate": "voxpick.api", "batch": "voxpick.series", "link": "voxpick.analysis.tracking",
    "refine": "voxpick.refinement", "report": "voxpick.analysis.report",
}  # fmt: skip

__all__ = ["__version__", *sorted(_API), *sorted(_SUBPACKAGES)]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"voxpick.{name}")
    raise AttributeError(f"module 'voxpick' has no attribute {name!r}")
