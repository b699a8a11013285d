"""voxpick: find every particle in noisy 3D microscopy volumes.

The stages are sub-packages, imported on first use: :mod:`voxpick.simulate`,
:mod:`voxpick.detect`, :mod:`voxpick.metrics`, :mod:`voxpick.io`, :mod:`voxpick.plot`.
:func:`locate` is the main entry point.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBPACKAGES = {"simulate", "detect", "metrics", "io", "plot", "analysis", "ml", "tiling", "cli"}

__all__ = ["__version__", "locate", *sorted(_SUBPACKAGES)]


def locate(volume: Any, **kwargs: Any) -> Any:
    """Locate particles in a 3D volume; see :func:`voxpick.detect.locate`."""
    from voxpick.detect import locate as _locate

    return _locate(volume, **kwargs)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"voxpick.{name}")
    raise AttributeError(f"module 'voxpick' has no attribute {name!r}")
