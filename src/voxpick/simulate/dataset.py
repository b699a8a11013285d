"""Many simulated volumes with parameters drawn from ranges (training and benchmark sets)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from voxpick.simulate.volume import SimulatedVolume, simulate_volume
from voxpick.validation import RngLike, make_rng

Range = tuple[float, float]


def _as_range(name: str, value: float | tuple[float, float] | list[float]) -> Range:
    if isinstance(value, int | float):
        return (float(value), float(value))
    vals = tuple(float(v) for v in value)
    if len(vals) != 2 or not all(math.isfinite(v) for v in vals) or vals[0] > vals[1]:
        raise ValueError(
            f"{name}={value!r} is not a range: expected one number or (low, high) with low <= high."
        )
    return (vals[0], vals[1])


@dataclass(frozen=True)
class ParameterRanges:
    """Ranges to draw each volume's parameters from (uniformly); a single number fixes it.

    The defaults span the colloid challenge's training distribution. ``cnr`` is drawn and then
    capped at the drawn ``snr`` (a bright-particle background cannot be negative).
    """

    volfrac: Range = (0.1, 0.55)
    radius: Range = (3.0, 10.0)
    polydispersity: Range = (0.0, 0.1)
    particle_size: Range = (0.1, 1.0)
    brightness: Range = (80.0, 255.0)
    snr: Range = (1.0, 10.0)
    cnr: Range = (1.0, 10.0)

    @classmethod
    def from_values(cls, **values: float | tuple[float, float] | None) -> ParameterRanges:
        """Build ranges from numbers or (low, high) pairs; ``None`` keeps the default."""
        base = asdict(cls())
        for name, value in values.items():
            if name not in base:
                raise ValueError(f"unknown parameter {name!r}: expected one of {sorted(base)}.")
            if value is not None:
                base[name] = _as_range(name, value)
        return cls(**base)

    def draw(self, gen: np.random.Generator) -> dict[str, float]:
        """Draw one set of parameters."""
        out = {name: float(gen.uniform(lo, hi)) for name, (lo, hi) in asdict(self).items()}
        out["cnr"] = min(out["cnr"], out["snr"])
        return out


def simulate_dataset(
    n: int,
    *,
    shape: int | tuple[int, int, int] = 64,
    ranges: ParameterRanges | None = None,
    rng: RngLike = None,
    **fixed: Any,
) -> Iterator[SimulatedVolume]:
    """Yield ``n`` simulated volumes with parameters drawn from ``ranges``.

    Parameters
    ----------
    n : int
        Number of volumes.
    shape : int or tuple of 3 int
        Shape of every volume.
    ranges : ParameterRanges, optional
        Where to draw volfrac, radius, polydispersity, particle_size, brightness, snr, cnr.
    rng : int, numpy.random.Generator or None
        Randomness; each volume gets its own seed, stored in its metadata.
    **fixed
        Further keyword arguments passed unchanged to :func:`simulate_volume`
        (e.g. ``invert=True``, ``layout="gel"``).

    Yields
    ------
    SimulatedVolume
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n={n!r} must be a non-negative int.")
    gen = make_rng(rng)
    ranges = ranges or ParameterRanges()
    for _ in range(n):
        params: dict[str, Any] = ranges.draw(gen)
        params.update(fixed)
        seed = int(gen.integers(0, 2**31 - 1))
        yield simulate_volume(shape, rng=seed, **params)
