r"""Steinhardt bond-orientational order parameters q_l (q4, q6) of each particle.

For particle ``i`` with neighbours ``j = 1..N_b`` and bond directions ``(theta_ij, phi_ij)``
(polar angle from the z axis, azimuth in the y-x plane),

.. math::

    q_{lm}(i) = \frac{1}{N_b} \sum_j Y_{lm}(\theta_{ij}, \phi_{ij}), \qquad
    q_l(i) = \sqrt{\frac{4\pi}{2l + 1} \sum_{m=-l}^{l} |q_{lm}(i)|^2}.

A perfect FCC crystal with its 12 nearest neighbours gives q4 = 0.191 and q6 = 0.575; HCP
0.097 and 0.485; a liquid or a random gas much less (q6 of about 0.3 to 0.4 with 12
neighbours). No periodic images: distances are measured in the window as seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special
from scipy.spatial import cKDTree

from voxpick.analysis.neighbours import away_from_faces
from voxpick.analysis.rdf import pair_vectors, window_bounds
from voxpick.validation import as_triple, check_positions


def _ylm(degree: int, order: int, polar: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
    """Spherical harmonic Y_l^m (scipy >= 1.15 ``sph_harm_y``; older ``sph_harm``)."""
    if hasattr(special, "sph_harm_y"):
        return np.asarray(special.sph_harm_y(degree, order, polar, azimuth))
    return np.asarray(special.sph_harm(order, degree, azimuth, polar))  # pragma: no cover


def _bonds(
    pos: np.ndarray, n_neighbours: int, cutoff: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed bonds (centre index, vector) and each particle's neighbourhood radius."""
    n = len(pos)
    if cutoff is not None:
        i, j, h = pair_vectors(pos, cutoff)
        centre = np.concatenate([i, j])
        vec = np.concatenate([h, -h])
        return centre, vec, np.full(n, cutoff)
    dist, idx = cKDTree(pos).query(pos, k=n_neighbours + 1)
    centre = np.repeat(np.arange(n), n_neighbours)
    vec = pos[idx[:, 1:].ravel()] - pos[centre]
    return centre, vec, dist[:, -1]


def steinhardt(
    positions: Any,
    *,
    degrees: Sequence[int] = (4, 6),
    n_neighbours: int | None = 12,
    cutoff: float | None = None,
    voxel_size: Any = 1,
    shape: tuple[int, int, int] | None = None,
) -> pd.DataFrame:
    """Local Steinhardt bond-orientational order ``q_l`` of every particle.

    Parameters
    ----------
    positions : array_like or pandas.DataFrame
        ``(N, 3)`` positions (z, y, x) in voxels.
    degrees : sequence of int
        Spherical-harmonic degrees ``l`` (default 4 and 6).
    n_neighbours : int, optional
        Use each particle's ``n_neighbours`` nearest neighbours (default 12, the FCC shell).
        Ignored when ``cutoff`` is given.
    cutoff : float, optional
        Use every neighbour closer than this physical distance instead, e.g. the first
        minimum of g(r) (:func:`voxpick.analysis.first_minimum`).
    voxel_size : float or tuple of 3 float
        Voxel size (z, y, x); bond angles are physical.
    shape : tuple of 3 int, optional
        Volume shape. When given, particles whose neighbourhood (the cutoff, or the distance
        to the furthest of their nearest neighbours) crosses a face get NaN.

    Returns
    -------
    pandas.DataFrame
        Columns ``q4``, ``q6`` (one per degree) and ``neighbours``, one row per particle in
        input order; NaN where a particle has no neighbour or touches a face.

    Examples
    --------
    >>> import numpy as np
    >>> cube = np.array([[0, 0, 1.0], [0, 0, -1], [0, 1, 0], [0, -1, 0], [1, 0, 0], [-1, 0, 0]])
    >>> q = steinhardt(np.vstack([[0, 0, 0], cube]), n_neighbours=6)
    >>> round(float(q.loc[0, "q4"]), 3), round(float(q.loc[0, "q6"]), 3)
    (0.764, 0.354)
    """
    degs = [int(d) for d in degrees]
    if not degs or any(d < 0 or d != float(dd) for d, dd in zip(degs, degrees, strict=True)):
        raise ValueError(f"degrees={degrees!r} must be non-negative integers, e.g. (4, 6).")
    vs = np.asarray(as_triple(voxel_size, name="voxel_size"))
    pos = check_positions(positions) * vs
    n = len(pos)
    if cutoff is not None:
        if not (np.isfinite(cutoff) and cutoff > 0):
            raise ValueError(f"cutoff={cutoff!r} must be a positive distance (physical units).")
        k = 0
    else:
        if n_neighbours is None or int(n_neighbours) < 1:
            raise ValueError(
                f"n_neighbours={n_neighbours!r} must be a positive int (e.g. 12), "
                "or pass cutoff= instead."
            )
        k = int(n_neighbours)
        if n < k + 1:
            raise ValueError(
                f"{n} particles are too few for n_neighbours={k}: pass at least {k + 1} "
                "positions or a smaller n_neighbours."
            )
    columns: dict[str, np.ndarray] = {}
    if n == 0:
        columns = {f"q{d}": np.zeros(0) for d in degs} | {"neighbours": np.zeros(0, dtype=int)}
        return pd.DataFrame(columns)
    centre, vec, reach = _bonds(pos, k, None if cutoff is None else float(cutoff))
    count = np.bincount(centre, minlength=n)
    length = np.linalg.norm(vec, axis=1)
    polar = np.arccos(np.clip(vec[:, 0] / np.where(length > 0, length, 1.0), -1.0, 1.0))
    azimuth = np.arctan2(vec[:, 1], vec[:, 2])
    with np.errstate(divide="ignore", invalid="ignore"):
        for deg in degs:
            total = np.zeros(n)
            for order in range(deg + 1):
                y = _ylm(deg, order, polar, azimuth)
                qlm_re = np.bincount(centre, weights=y.real, minlength=n) / count
                qlm_im = np.bincount(centre, weights=y.imag, minlength=n) / count
                # |q_{l,-m}| = |q_{l,m}|: count each m > 0 twice.
                total += (1.0 if order == 0 else 2.0) * (qlm_re**2 + qlm_im**2)
            columns[f"q{deg}"] = np.sqrt(4.0 * np.pi / (2 * deg + 1) * total)
    out = pd.DataFrame(columns)
    out["neighbours"] = count
    if shape is not None:
        lo, hi = window_bounds(shape, vs)
        edge = ~away_from_faces(pos, reach, lo, hi)
        out.loc[edge, [f"q{d}" for d in degs]] = np.nan
    return out
