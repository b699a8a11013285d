"""trackpy, the peer method, as the benchmarks run it beside voxpick."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def odd_size(x: float) -> int:
    """The odd integer size trackpy needs for a feature ``x`` voxels across (at least 3).

    Parameters
    ----------
    x : float
        Diameter (voxels).

    Returns
    -------
    int
        ``round(x)``, raised to the next odd integer, and at least 3.
    """
    n = max(3, round(x))
    return n if n % 2 else n + 1


def trackpy_tuned(vol: np.ndarray, diameter: tuple[float, ...], dark: bool) -> pd.DataFrame:
    """trackpy as an expert would set it for dense samples: odd diameters, separation 0.8 d."""
    import trackpy as tp

    tp.quiet()
    image = 255 - vol if dark else vol
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tp.locate(
            image,
            diameter=tuple(odd_size(d) for d in diameter),
            separation=tuple(0.8 * d for d in diameter),
        )


def trackpy_default(vol: np.ndarray, diameter: tuple[float, ...], dark: bool) -> pd.DataFrame:
    """trackpy at its defaults, with the odd diameters it needs."""
    import trackpy as tp

    tp.quiet()
    image = 255 - vol if dark else vol
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tp.locate(image, diameter=tuple(odd_size(d) for d in diameter))
