"""Check that the particle diameter a user gives is consistent with the particles found.

Hard particles cannot sit closer than about one diameter, so when many detections have a
neighbour closer than :data:`CLOSE_FRACTION` of the told diameter, either the diameter is too
large (a dense sample of smaller particles: every neighbour looks too close) or the detector
finds one particle twice or finds noise. :func:`check_diameter` tells the two apart by locating
again with the diameter the detections imply (the told one times their median nearest-neighbour
distance in diameters, about 1 in a dense packing): if the new detections are consistent with the
new diameter, it was the diameter; if not, changing the diameter does not help.

Distances are measured in diameters per axis (an ellipsoidal metric): a (17, 15, 15) voxel
diameter makes 17 voxels along z and 15 along y one diameter each.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from voxpick.io.calibration import resolve_voxel_size
from voxpick.io.source import open_volume
from voxpick.validation import check_positions, diameter_in_voxels

#: Nearest neighbours closer than this many diameters are physically impossible for hard
#: spheres (polydispersity and localisation noise bring real contacts down to about 0.85).
CLOSE_FRACTION = 0.8

#: Above this share of detections with a too-close neighbour, the result is inconsistent with the
#: diameter. Simulated volumes located with the true diameter stay below it except where the
#: detector over-detects (``python -m bench.benchmarks.real_data`` reports both).
MAX_CLOSE_SHARE = 0.25

#: A rerun with the implied diameter is accepted when at most this share is too close ...
ACCEPT_CLOSE_SHARE = 0.2

#: ... and the median nearest-neighbour distance lies in this range of diameters (dense hard
#: spheres: 1.0-1.05; a little less with localisation noise).
ACCEPT_MEDIAN = (0.88, 1.15)

#: An inconsistent result whose rerun at most this fraction of the told diameter's share of
#: too-close neighbours is reported as "better, not consistent" rather than "no better".
IMPROVED_FACTOR = 0.5

#: The implied diameter is not tried below this many voxels on any axis.
MIN_RERUN_PX = 3.0

#: Fewer detections than this cannot be judged.
MIN_DETECTIONS = 30


def neighbour_ratios(positions: Any, *, diameter: Any, voxel_size: Any = 1) -> np.ndarray:
    """Distance from each detection to its nearest neighbour, in diameters.

    Parameters
    ----------
    positions : array_like or pandas.DataFrame
        ``(N, 3)`` positions (z, y, x) in voxels.
    diameter : float or sequence of 3 float
        Particle diameter in the units of ``voxel_size`` (voxels by default); a (z, y, x) triple
        for anisotropic voxels.
    voxel_size : float or sequence of 3 float
        Voxel size per axis (z, y, x).

    Returns
    -------
    numpy.ndarray
        ``(N,)`` ratios (1.0: touching); empty when fewer than two positions.

    Examples
    --------
    >>> neighbour_ratios([[0, 0, 0], [20, 0, 0], [0, 10, 0]], diameter=(20, 10, 10)).tolist()
    [1.0, 1.0, 1.0]
    """
    pos = check_positions(positions) / np.asarray(diameter_in_voxels(diameter, voxel_size))
    if len(pos) < 2:
        return np.zeros(0)
    dist, _ = cKDTree(pos).query(pos, k=2)
    return np.asarray(dist[:, 1], dtype=float)


def crowding_warning(positions: Any, *, diameter: Any, voxel_size: Any = 1) -> str:
    """Warn when too many detections have a neighbour closer than hard spheres allow.

    Cheap (no detection is run): the first step of :func:`check_diameter`, for tools that
    report a result.

    Parameters
    ----------
    positions : array_like or pandas.DataFrame
        ``(N, 3)`` positions (z, y, x) in voxels.
    diameter : float or sequence of 3 float
        Particle diameter in the units of ``voxel_size``.
    voxel_size : float or sequence of 3 float
        Voxel size per axis (z, y, x).

    Returns
    -------
    str
        One sentence; empty when at most :data:`MAX_CLOSE_SHARE` of the detections have a
        neighbour closer than :data:`CLOSE_FRACTION` diameter, or there are fewer than
        :data:`MIN_DETECTIONS`.
    """
    return crowding_message(neighbour_ratios(positions, diameter=diameter, voxel_size=voxel_size))


def crowding_message(ratios: np.ndarray) -> str:
    """:func:`crowding_warning` from nearest-neighbour distances already in diameters.

    Parameters
    ----------
    ratios : numpy.ndarray
        One nearest-neighbour distance per detection, in diameters (:func:`neighbour_ratios`).

    Returns
    -------
    str
        The warning, or an empty string.
    """
    if len(ratios) < MIN_DETECTIONS:
        return ""
    share = float(np.mean(ratios < CLOSE_FRACTION))
    if share <= MAX_CLOSE_SHARE:
        return ""
    return (
        f"{share:.0%} of the detections have a neighbour closer than {CLOSE_FRACTION:g} "
        "diameter, which hard spheres cannot: the diameter may be too large (or too small), or "
        "the detector over-detects on this volume."
    )


@dataclass(frozen=True)
class DiameterCheck:
    """Result of :func:`check_diameter`.

    Attributes
    ----------
    verdict : str
        ``"consistent"`` (few impossible neighbours), ``"too large"`` (a smaller diameter,
        ``suggested``, gives consistent detections), ``"inconsistent"`` (too many impossible
        neighbours, and the implied diameter does not fix them: the detector over-detects, e.g.
        splits elongated particles or finds noise) or ``"too few"`` (fewer than
        ``min_detections`` detections: no judgement).
    n_found : int
        Detections with the told diameter.
    close_share : float
        Share of them whose nearest neighbour is closer than :data:`CLOSE_FRACTION` diameters.
    median_ratio : float
        Their median nearest-neighbour distance in diameters (NaN with fewer than two).
    suggested : float or tuple of 3 float or None
        The implied diameter (told diameter times ``median_ratio``, same units and form), when
        a rerun with it was tried.
    suggested_n_found, suggested_close_share, suggested_median_ratio : int, float, float or None
        The same figures for the rerun.
    """

    verdict: str
    n_found: int
    close_share: float
    median_ratio: float
    suggested: float | tuple[float, float, float] | None = None
    suggested_n_found: int | None = None
    suggested_close_share: float | None = None
    suggested_median_ratio: float | None = None

    @property
    def improved(self) -> bool:
        """Whether the smaller diameter tried at least halved the share of too-close pairs."""
        return (
            self.suggested_close_share is not None
            and self.suggested_close_share <= IMPROVED_FACTOR * self.close_share
        )

    @property
    def message(self) -> str:
        """One paragraph for a person: what was found and what to do (Python spelling)."""
        return self.describe()

    def describe(self, *, command_line: bool = False, unit: str | None = None) -> str:
        """Say what was found and what to do.

        Parameters
        ----------
        command_line : bool
            Write diameters as ``--diameter Z,Y,X`` (the ``voxpick`` command) instead of
            ``diameter=(z, y, x)``.
        unit : str, optional
            With ``command_line``: the unit written after the diameters (e.g. ``"um"``).

        Returns
        -------
        str
        """
        head = (
            f"{self.n_found} detections; {self.close_share:.0%} have a neighbour closer than "
            f"{CLOSE_FRACTION:g} diameter (median nearest neighbour {self.median_ratio:.2f} "
            "diameters)"
        )
        if self.verdict == "too few":
            return f"{self.n_found} detections: too few to judge the diameter."
        if self.verdict == "consistent":
            return head + ": consistent with the diameter."
        if self.suggested is None:
            return head + ": inconsistent with the diameter, and no smaller one is worth trying."
        d = _fmt(self.suggested, command_line=command_line)
        if command_line and unit:
            d += unit
        rerun = (
            f"with diameter {d}: {self.suggested_n_found} detections, "
            f"{self.suggested_close_share:.0%} too close, median "
            f"{self.suggested_median_ratio:.2f}"
        )
        use = f"--diameter {d}" if command_line else f"diameter={d}"
        if self.verdict == "too large":
            return head + f". The diameter is too large; {rerun}. Use {use}."
        if self.improved:
            return (
                head + f"; {rerun}: better, but still more than {ACCEPT_CLOSE_SHARE:.0%} too "
                f"close or a median outside {ACCEPT_MEDIAN[0]:g}-{ACCEPT_MEDIAN[1]:g}. The "
                "diameter is probably too large, and the detector also over-detects a little "
                f"(split or noise detections): try {use}, check the overlays, and raise the "
                "threshold if pairs remain."
            )
        return (
            head + f"; {rerun}, no better. Either the detector over-detects on this volume "
            "(split or noise detections) or the diameter is too small (each particle found "
            "several times); a smaller diameter does not help: check the overlays, then raise "
            "the threshold or the diameter."
        )

    def __repr__(self) -> str:
        return f"<DiameterCheck {self.verdict}: {self.message}>"

    def _repr_html_(self) -> str:
        colour = {"consistent": "#1a7f37", "too large": "#9a6700"}.get(self.verdict, "#cf222e")
        rows = [("told", self.n_found, self.close_share, self.median_ratio)]
        if self.suggested is not None:
            rows.append((
                f"tried {_fmt(self.suggested)}", self.suggested_n_found or 0,
                self.suggested_close_share or 0.0, self.suggested_median_ratio or float("nan"),
            ))  # fmt: skip
        body = "".join(
            f"<tr><td>{html.escape(label)}</td><td>{n}</td><td>{share:.0%}</td>"
            f"<td>{median:.2f}</td></tr>"
            for label, n, share, median in rows
        )
        return (
            f'<div><b style="color:{colour}">{html.escape(self.verdict)}</b>: '
            f"{html.escape(self.message)}<table><tr><th>diameter</th><th>detections</th>"
            f"<th>closer than {CLOSE_FRACTION:g} d</th><th>median NN (d)</th></tr>{body}"
            "</table></div>"
        )


def _fmt(value: Any, *, command_line: bool = False) -> str:
    if isinstance(value, tuple):
        if command_line:
            return ",".join(f"{v:.3g}" for v in value)
        return "(" + ", ".join(f"{v:.3g}" for v in value) + ")"
    return f"{value:.3g}"


def _figures(found: Any, diameter: Any, voxel_size: Any) -> tuple[int, float, float]:
    ratios = neighbour_ratios(found[["z", "y", "x"]], diameter=diameter, voxel_size=voxel_size)
    if len(ratios) == 0:
        return len(found), 0.0, float("nan")
    return len(found), float(np.mean(ratios < CLOSE_FRACTION)), float(np.median(ratios))


def _scaled(diameter: Any, factor: float) -> float | tuple[float, float, float]:
    if np.ndim(diameter) == 0:
        return float(diameter) * factor
    z, y, x = (float(v) * factor for v in diameter)
    return (z, y, x)


def check_diameter(
    volume: Any,
    *,
    diameter: Any,
    voxel_size: Any = None,
    method: str = "auto",
    invert: bool = False,
    min_detections: int = MIN_DETECTIONS,
    max_reruns: int = 3,
    found: Any = None,
    **kwargs: Any,
) -> DiameterCheck:
    """Check that a particle diameter is consistent with the particles found with it.

    Locates with ``diameter``; when more than :data:`MAX_CLOSE_SHARE` of the detections have a
    neighbour closer than :data:`CLOSE_FRACTION` diameters, locates again with the diameter the
    detections imply (``diameter`` times their median nearest-neighbour distance in diameters)
    and accepts it when at most :data:`ACCEPT_CLOSE_SHARE` are then too close and the median
    lies in :data:`ACCEPT_MEDIAN`; otherwise repeats from the new diameter (``max_reruns``) as
    long as the share of too-close neighbours falls. How often it is right:
    ``docs/analysis.md`` (``python -m bench.benchmarks.diameter_check``).

    Parameters
    ----------
    volume : array_like, str or os.PathLike
        3D image, axes (z, y, x), or its path (anything :func:`voxpick.locate` takes).
    diameter : float or sequence of 3 float
        The diameter to check, in the units of ``voxel_size`` (voxels by default).
    voxel_size : float or sequence of 3 float, optional
        Voxel size per axis (z, y, x); default as :func:`voxpick.locate`: the file's
        calibration for a path that records one, else 1.
    method : str
        Detector passed to :func:`voxpick.locate`; the same default, ``"auto"``, so that the
        check judges the detections ``locate`` returns.
    invert : bool
        Particles are darker than the background.
    min_detections : int
        Below this many detections the verdict is ``"too few"``.
    max_reruns : int
        Smaller diameters tried at most (each the previous one times the median
        nearest-neighbour distance it gave); the search stops early when one does not lower
        the share of too-close neighbours. 0 only measures.
    found : pandas.DataFrame, optional
        Detections already located in ``volume`` with ``diameter`` and the same settings
        (``z, y, x`` columns); the first detection is then skipped.
    **kwargs
        Passed to :func:`voxpick.locate` (e.g. ``threshold``).

    Returns
    -------
    DiameterCheck
        Verdict, figures and, for ``"too large"``, the ``suggested`` diameter.

    Examples
    --------
    >>> from voxpick.simulate import simulate_volume
    >>> sim = simulate_volume(64, radius=4, volfrac=0.4, snr=8, cnr=5, rng=0)
    >>> check_diameter(sim.volume, diameter=8).verdict
    'consistent'
    """
    from voxpick.api import locate

    if isinstance(min_detections, bool) or not isinstance(min_detections, int | np.integer):
        raise TypeError(f"min_detections={min_detections!r} must be a whole number, e.g. 30.")
    if min_detections < 2:
        raise ValueError(f"min_detections={min_detections!r} must be at least 2, e.g. 30.")
    if isinstance(max_reruns, bool) or not isinstance(max_reruns, int | np.integer):
        raise TypeError(f"max_reruns={max_reruns!r} must be a whole number, e.g. 3.")
    if max_reruns < 0:
        raise ValueError(f"max_reruns={max_reruns!r} must be 0 or more, e.g. 3.")
    voxel_size, _ = resolve_voxel_size(volume, voxel_size)
    d_px = diameter_in_voxels(diameter, voxel_size)  # validate before the (slow) detection
    if isinstance(volume, str | os.PathLike):
        volume = open_volume(volume)  # opened once for every rerun
    opts = dict(voxel_size=voxel_size, method=method, invert=invert, **kwargs)
    if found is None:
        found = locate(volume, diameter=diameter, **opts)
    n, share, median = _figures(found, diameter, voxel_size)
    if n < min_detections:
        return DiameterCheck("too few", n, share, median)
    if share <= MAX_CLOSE_SHARE:
        return DiameterCheck("consistent", n, share, median)
    scale, last_share, last_median = 1.0, share, median
    tried: tuple[Any, int, float, float] | None = None
    for _ in range(max_reruns):
        scale *= last_median
        if not last_median < 1.0 or min(d_px) * scale < MIN_RERUN_PX:
            break  # no smaller diameter worth trying
        suggested = _scaled(diameter, scale)
        n2, share2, median2 = _figures(
            locate(volume, diameter=suggested, **opts), suggested, voxel_size
        )
        if tried is None or share2 < tried[2]:
            tried = (suggested, n2, share2, median2)  # the best rerun is reported
        if (
            n2 >= min_detections
            and share2 <= ACCEPT_CLOSE_SHARE
            and ACCEPT_MEDIAN[0] <= median2 <= ACCEPT_MEDIAN[1]
        ):
            return DiameterCheck("too large", n, share, median, suggested, n2, share2, median2)
        if share2 >= last_share:
            break  # a smaller diameter makes it no better: over-detection
        last_share, last_median = share2, median2
    return DiameterCheck("inconsistent", n, share, median, *(tried or ()))
