"""voxpick: find every particle in noisy 3D microscopy volumes.

:func:`locate` (:mod:`voxpick.api`) is the main entry point. The stages are sub-packages,
imported on first use: :mod:`voxpick.simulate`, :mod:`voxpick.detect`, :mod:`voxpick.ml`,
:mod:`voxpick.tiling`, :mod:`voxpick.cryoet`, :mod:`voxpick.metrics`, :mod:`voxpick.analysis`,
:mod:`voxpick.io`, :mod:`voxpick.plot`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBPACKAGES = {
    "analysis", "api", "cli", "cryoet", "detect", "io", "metrics", "ml", "nn", "plot", "simulate",
    "tiling",
}  # fmt: skip

#: Functions of :mod:`voxpick.api` available as ``voxpick.NAME``.
_API = {"locate"}

__all__ = ["__version__", *sorted(_API), *sorted(_SUBPACKAGES)]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module("voxpick.api"), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"voxpick.{name}")
    raise AttributeError(f"module 'voxpick' has no attribute {name!r}")
