"""Helpers shared by the benchmarks that run trackpy beside voxpick."""

from __future__ import annotations


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
