"""Clusters of touching particles: same-class particles moved into contact with each other.

Random sequential addition (:func:`voxpick.simulate.particles.place_particles`) keeps every
bounding sphere apart, but real tomograms pack some proteins tightly: in the CZII expert picks
apo-ferritin and ribosomes (polysomes) sit in chains and clusters whose neighbouring centres are
0.7 to 1 times the sum of the two radii apart (the bounding spheres overlap a little, since the
class radii are generous and picks are not exact). :func:`cluster_particles` moves a fraction of
the particles of each class next to another particle of the same class at such a distance, so
that a picker trained on simulated tomograms sees touching particles of one class too.
"""

from __future__ import annotations

import numpy as np

from voxpick.validation import RngLike, make_rng

#: Centre distance of two particles in contact, as a range of fractions of the sum of their
#: bounding radii (the closest same-class neighbours of the CZII expert picks: 0.7 to 1).
CONTACT_RANGE = (0.7, 1.0)


def cluster_particles(
    centres: np.ndarray,
    radii: np.ndarray,
    groups: np.ndarray,
    *,
    shape: tuple[int, int, int],
    fraction: float,
    contact: tuple[float, float] = CONTACT_RANGE,
    rng: RngLike = None,
    tries: int = 64,
) -> np.ndarray:
    """Move a fraction of particles into contact with a particle of their own group.

    Each chosen particle (a random ``fraction`` of all, in random order) is moved to a random
    direction from a random settled particle of its group (one not chosen, or chosen and
    handled before it), at ``u * (r_i + r_j)`` with ``u`` uniform in ``contact``: moved
    particles become anchors for later ones, so chains and clusters form, and no anchor moves
    away afterwards. A new position must lie inside ``shape`` and keep every other particle at
    ``r_i + r_k`` (other groups) or ``contact[0] * (r_i + r_k)`` (same group); when none of
    ``tries`` positions does, the particle stays where it was.

    Parameters
    ----------
    centres : numpy.ndarray
        ``(N, 3)`` centres (voxels), e.g. from random sequential addition; not modified.
    radii : numpy.ndarray
        ``(N,)`` bounding radii, voxels.
    groups : numpy.ndarray
        ``(N,)`` group (class) of each particle; only particles of one group touch this way.
    shape : tuple of int
        Volume shape (z, y, x); centres stay within ``[0, n - 1]`` per axis.
    fraction : float
        Fraction of the particles to move, 0 to 1 (0 returns a copy of ``centres``).
    contact : tuple of float
        Range of centre distances relative to the sum of the two radii, ``0 < lo <= hi``.
    rng : int, numpy.random.Generator or None
        Randomness.
    tries : int
        Positions tried per particle.

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` centres, in the order of ``centres``.
    """
    pos = np.array(centres, dtype=float, copy=True).reshape(-1, 3)
    radii = np.asarray(radii, dtype=float)
    groups = np.asarray(groups)
    n = len(pos)
    if not (len(radii) == n and len(groups) == n):
        raise ValueError(
            f"centres, radii and groups have {n}, {len(radii)} and {len(groups)} rows: expected "
            "one row per particle in each."
        )
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction={fraction!r} is invalid: expected a number from 0 to 1.")
    lo, hi_rel = (float(c) for c in contact)
    if not 0.0 < lo <= hi_rel:
        raise ValueError(
            f"contact={contact!r} is invalid: expected (lo, hi) with 0 < lo <= hi, fractions "
            "of the sum of two radii, e.g. (0.7, 1.0)."
        )
    gen = make_rng(rng)
    if fraction == 0.0 or n < 2:
        return pos
    top = np.asarray(shape, dtype=float) - 1.0
    chosen = gen.random(n) < fraction
    settled = ~chosen
    for i in gen.permutation(np.flatnonzero(chosen)):
        settled[i] = True  # moved or not, from now on it stays
        mates = np.flatnonzero((groups == groups[i]) & settled)
        mates = mates[mates != i]
        if mates.size == 0:
            continue
        anchor = gen.choice(mates, size=tries)
        step = gen.standard_normal((tries, 3))
        step /= np.maximum(np.linalg.norm(step, axis=1, keepdims=True), 1e-12)
        dist = gen.uniform(lo, hi_rel, tries) * (radii[i] + radii[anchor])
        cand = pos[anchor] + step * dist[:, None]
        ok = np.all((cand >= 0.0) & (cand <= top), axis=1)
        others = np.flatnonzero(np.arange(n) != i)
        need = radii[i] + radii[others]
        need = np.where(groups[others] == groups[i], lo * need, need)
        gap = np.linalg.norm(cand[:, None, :] - pos[others][None, :, :], axis=2)
        # a hair of tolerance: the anchor itself may sit at exactly lo * (r_i + r_j)
        ok &= np.all(gap >= need[None, :] - 1e-9, axis=1)
        if ok.any():
            pos[i] = cand[np.argmax(ok)]
    return pos
