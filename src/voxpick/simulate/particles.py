"""Particle classes, shapes and placement for synthetic cryo-ET tomograms.

A particle is a density of one of four kinds, drawn inside a *bounding sphere* of radius
``radius_A`` (so two particles whose bounding spheres do not overlap never touch):

``sphere``
    A solid ball of radius ``radius_A``.
``shell``
    A hollow ball (virus-like particle, cage): density between ``(1 - thickness) * radius_A``
    and ``radius_A``, empty inside.
``ellipsoid``
    A prolate (oblong) ellipsoid with semi-axes ``radius_A`` along its long axis and
    ``radius_A / aspect`` across it, randomly oriented.
``lobed``
    ``lobes`` (2 to 4) overlapping balls of unequal sizes (relative radii 1, 0.75, 0.9, 0.8) on a
    line, a triangle or a tetrahedron, shifted so that their volume-weighted centre is the particle
    centre and scaled to fit the bounding sphere, randomly oriented.

Every voxel gets the fraction of it that the shape covers, ramped linearly over one voxel at the
surface (anti-aliased), times the class ``density``.

:func:`place_particles` draws non-overlapping centres by random sequential addition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from voxpick.validation import RngLike, make_rng

SHAPES = ("sphere", "shell", "ellipsoid", "lobed")

_LOBE_SIZES = np.array([1.0, 0.75, 0.9, 0.8])
_S3 = math.sqrt(3.0) / 2.0
_LOBE_DIRECTIONS = {
    2: np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]),
    3: np.array([[1.0, 0.0, 0.0], [-0.5, _S3, 0.0], [-0.5, -_S3, 0.0]]),
    4: np.array([[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]])
    / math.sqrt(3.0),
}


@dataclass(frozen=True)
class ParticleClass:
    """One kind of particle in a synthetic tomogram.

    Attributes
    ----------
    name : str
        Label written to the truth table's ``particle_type`` column.
    radius_A : float
        Radius of the particle's bounding sphere, Angstrom (converted to voxels with the
        simulator's ``voxel_size``).
    shape : {"sphere", "shell", "ellipsoid", "lobed"}
        Kind of density (see the module docstring).
    density : float
        Contrast relative to a protein of density 1 (RNA-rich ribosomes are denser, ~1.3).
    count : int or None
        Fixed number of particles per tomogram; takes precedence over ``number_density``.
    number_density : float or None
        Mean number of particles per cubic micrometre; the count per tomogram is Poisson with
        mean ``number_density * volume``. With neither set, the class only appears when the
        simulator's ``counts`` names it.
    aspect : float
        Long over short axis of an ``ellipsoid`` (>= 1).
    thickness : float
        Wall thickness of a ``shell`` as a fraction of its radius (0 < thickness < 1).
    lobes : int
        Number of balls of a ``lobed`` particle, 2 to 4.
    """

    name: str
    radius_A: float
    shape: str = "sphere"
    density: float = 1.0
    count: int | None = None
    number_density: float | None = None
    aspect: float = 1.6
    thickness: float = 0.25
    lobes: int = 3

    def __post_init__(self) -> None:
        """Validate the fields (clear messages rather than odd volumes later)."""
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name={self.name!r} is invalid: expected a non-empty string.")
        _positive(self.name, "radius_A", self.radius_A, "the bounding radius in Angstrom")
        if self.shape not in SHAPES:
            raise ValueError(
                f"{self.name}: shape={self.shape!r} is unknown: expected one of {SHAPES}."
            )
        _positive(self.name, "density", self.density, "contrast relative to protein, e.g. 1.0")
        if self.count is not None and (
            isinstance(self.count, bool)
            or not isinstance(self.count, int | np.integer)
            or self.count < 0
        ):
            raise ValueError(
                f"{self.name}: count={self.count!r} is invalid: expected an int >= 0 or None."
            )
        if self.number_density is not None and not (
            _is_number(self.number_density) and 0 <= self.number_density < math.inf
        ):
            raise ValueError(
                f"{self.name}: number_density={self.number_density!r} is invalid: expected a "
                "finite number >= 0 (particles per cubic micrometre) or None."
            )
        if not (_is_number(self.aspect) and 1.0 <= self.aspect <= 10.0):
            raise ValueError(
                f"{self.name}: aspect={self.aspect!r} is invalid: expected 1 to 10 "
                "(long over short axis)."
            )
        if not (_is_number(self.thickness) and 0.0 < self.thickness < 1.0):
            raise ValueError(
                f"{self.name}: thickness={self.thickness!r} is invalid: expected 0 < thickness "
                "< 1 (fraction of the radius)."
            )
        if self.lobes not in _LOBE_DIRECTIONS:
            raise ValueError(f"{self.name}: lobes={self.lobes!r} is invalid: expected 2, 3 or 4.")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _positive(owner: str, name: str, value: object, hint: str) -> None:
    if not (_is_number(value) and 0 < float(value) < math.inf):  # type: ignore[arg-type]
        raise ValueError(f"{owner}: {name}={value!r} is invalid: expected a finite number > 0 "
                         f"({hint}).")  # fmt: skip


#: Six classes resembling the CZII challenge's (names and radii of
#: :data:`voxpick.metrics.czii.CZII_PARTICLES`), with number densities near the mean of the
#: expert picks of its training tomograms (labelled particles only; real tomograms hold many
#: more unlabelled ones, raise ``density_scale`` for those).
CZII_LIKE_CLASSES: tuple[ParticleClass, ...] = (
    ParticleClass("apo-ferritin", 60.0, "sphere", 1.0, number_density=730.0),
    ParticleClass("beta-amylase", 65.0, "ellipsoid", 0.8, number_density=170.0, aspect=1.3),
    ParticleClass("beta-galactosidase", 90.0, "lobed", 1.0, number_density=220.0, lobes=4),
    ParticleClass("ribosome", 150.0, "lobed", 1.3, number_density=645.0, lobes=2),
    ParticleClass("thyroglobulin", 130.0, "ellipsoid", 1.0, number_density=490.0, aspect=1.8),
    ParticleClass("virus-like-particle", 135.0, "shell", 1.2, number_density=220.0,
                  thickness=0.25),
)  # fmt: skip


def lobe_geometry(lobes: int) -> tuple[np.ndarray, np.ndarray]:
    """Lobe centres and radii of a ``lobed`` particle of bounding radius 1 (body frame).

    Parameters
    ----------
    lobes : int
        2, 3 or 4.

    Returns
    -------
    centres : numpy.ndarray
        ``(lobes, 3)``; their volume-weighted mean is the origin.
    radii : numpy.ndarray
        ``(lobes,)``; ``max(|centre| + radius) == 1``.
    """
    radii = _LOBE_SIZES[:lobes].copy()
    centres = 0.8 * _LOBE_DIRECTIONS[lobes]
    weights = radii**3
    centres = centres - (weights[:, None] * centres).sum(0) / weights.sum()
    scale = float(np.max(np.linalg.norm(centres, axis=1) + radii))
    return centres / scale, radii / scale


def random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 3, 3)`` rotation matrices uniform on SO(3) (normalised Gaussian quaternions)."""
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, a, b, c = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (b * b + c * c), 2 * (a * b - c * w), 2 * (a * c + b * w)], -1),
            np.stack([2 * (a * b + c * w), 1 - 2 * (a * a + c * c), 2 * (b * c - a * w)], -1),
            np.stack([2 * (a * c - b * w), 2 * (b * c + a * w), 1 - 2 * (a * a + b * b)], -1),
        ],
        axis=1,
    )


def _coverage(dist_inside: np.ndarray) -> np.ndarray:
    """Anti-aliased occupancy from the signed distance to the surface (> 0 inside), voxels."""
    return np.clip(dist_inside + 0.5, 0.0, 1.0)


def particle_patch(
    cls: ParticleClass, offsets: tuple[np.ndarray, np.ndarray, np.ndarray], radius: float,
    rotation: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Occupancy (0 to 1) of one particle on a box of voxel offsets from its centre.

    Parameters
    ----------
    cls : ParticleClass
        Its class (shape and shape parameters).
    offsets : tuple of 3 numpy.ndarray
        Broadcastable ``dz[:, None, None], dy[None, :, None], dx[None, None, :]`` offsets of the
        box's voxel centres from the particle centre, voxels.
    radius : float
        Bounding radius, voxels.
    rotation : numpy.ndarray
        ``(3, 3)`` rotation from the body frame to (z, y, x).

    Returns
    -------
    numpy.ndarray
        float32 occupancy on the box.
    """
    dz, dy, dx = offsets
    r2 = dz * dz + dy * dy + dx * dx
    if cls.shape in ("sphere", "shell"):
        d = np.sqrt(r2)
        occ = _coverage(radius - d)
        if cls.shape == "shell":
            occ = occ - _coverage((1.0 - cls.thickness) * radius - d)
    elif cls.shape == "ellipsoid":
        u = rotation[:, 0]  # long axis in (z, y, x)
        along = u[0] * dz + u[1] * dy + u[2] * dx
        short = radius / cls.aspect
        s = np.sqrt(along * along / radius**2 + np.maximum(r2 - along * along, 0.0) / short**2)
        # distance to the surface along the ray from the centre: |q| (1 - 1/s)
        occ = _coverage(np.sqrt(r2) * (1.0 / np.maximum(s, 1e-12) - 1.0))
    else:
        centres, radii = lobe_geometry(cls.lobes)
        centres = centres @ rotation.T * radius
        occ = np.zeros(np.broadcast_shapes(dz.shape, dy.shape, dx.shape))
        for c, r in zip(centres, radii * radius, strict=True):
            d = np.sqrt((dz - c[0]) ** 2 + (dy - c[1]) ** 2 + (dx - c[2]) ** 2)
            occ = np.maximum(occ, _coverage(r - d))
    return np.asarray(occ, dtype=np.float32)


def render_particles(
    shape: tuple[int, int, int],
    centres: np.ndarray,
    radii: np.ndarray,
    classes: list[ParticleClass],
    rotations: np.ndarray,
) -> np.ndarray:
    """Render particle densities (positive inside particles, 0 elsewhere).

    Parameters
    ----------
    shape : tuple of int
        Output shape (z, y, x).
    centres : numpy.ndarray
        ``(N, 3)`` centres, voxels (voxel centres at integer coordinates); particles may lie
        partly or wholly outside the volume.
    radii : numpy.ndarray
        ``(N,)`` bounding radii, voxels.
    classes : list of ParticleClass
        Class of each particle.
    rotations : numpy.ndarray
        ``(N, 3, 3)`` orientations.

    Returns
    -------
    numpy.ndarray
        float32 density: the sum over particles of occupancy times class density.
    """
    out = np.zeros(shape, dtype=np.float32)
    size = np.asarray(shape)
    for c, r, cls, rot in zip(centres, radii, classes, rotations, strict=True):
        lo = np.maximum(np.floor(c - r - 1).astype(int), 0)
        hi = np.minimum(np.ceil(c + r + 2).astype(int), size)
        if np.any(hi <= lo):
            continue
        offsets = (
            (np.arange(lo[0], hi[0]) - c[0])[:, None, None],
            (np.arange(lo[1], hi[1]) - c[1])[None, :, None],
            (np.arange(lo[2], hi[2]) - c[2])[None, None, :],
        )
        patch = particle_patch(cls, offsets, float(r), rot)
        out[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] += np.float32(cls.density) * patch
    return out


def place_particles(
    shape: tuple[int, int, int], radii: np.ndarray, *, min_gap: float = 0.0,
    rng: RngLike = None, max_rounds: int = 400,
) -> np.ndarray:  # fmt: skip
    """Random non-overlapping centres inside ``shape`` (random sequential addition).

    Parameters
    ----------
    shape : tuple of int
        Volume shape (z, y, x); centres are uniform in ``[0, n - 1]`` per axis.
    radii : numpy.ndarray
        ``(N,)`` bounding radii, voxels.
    min_gap : float
        Smallest surface-to-surface distance between bounding spheres, voxels.
    rng : int, numpy.random.Generator or None
        Randomness.
    max_rounds : int
        Rounds of trials per size tier (each tries up to 64 positions per unplaced particle)
        before giving up.

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` centres in the order of ``radii``.
    """
    gen = make_rng(rng)
    radii = np.asarray(radii, dtype=float)
    n = len(radii)
    hi = np.asarray(shape, dtype=float) - 1.0
    pos = np.full((n, 3), np.nan)
    done = np.zeros(n, dtype=bool)
    pending = np.argsort(-radii, kind="stable")  # largest first
    rounds, tier = 0, math.inf
    while pending.size and rounds < max_rounds:
        # largest first: only particles within 10% of the largest unplaced radius take part
        top = float(radii[pending[0]])
        if top < tier:
            rounds, tier = 0, 0.9 * top
        rounds += 1
        batch = pending[radii[pending] >= tier]
        m = int(min(64, max(1, 8192 // batch.size)))
        cand = gen.uniform(0.0, 1.0, (batch.size, m, 3)) * hi
        flat = cand.reshape(-1, 3)
        ok = np.ones(len(flat), dtype=bool)
        if done.any():
            placed = np.flatnonzero(done)
            r = np.repeat(radii[batch], m)
            reach = top + float(radii[placed].max()) + min_gap
            pairs = cKDTree(flat).sparse_distance_matrix(
                cKDTree(pos[placed]), reach, output_type="ndarray"
            )
            bad = pairs["v"] < r[pairs["i"]] + radii[placed][pairs["j"]] + min_gap
            ok[pairs["i"][bad]] = False
        ok2 = ok.reshape(batch.size, m)
        has = ok2.any(axis=1)
        first = np.argmax(ok2, axis=1)
        chosen_idx = batch[has]
        chosen = cand[np.flatnonzero(has), first[has]]
        if chosen_idx.size > 1:  # conflicts among this round's choices: the later one waits
            rr = radii[chosen_idx]
            ij = cKDTree(chosen).query_pairs(2.0 * float(rr.max()) + min_gap, output_type="ndarray")
            if ij.size:
                d = np.linalg.norm(chosen[ij[:, 0]] - chosen[ij[:, 1]], axis=1)
                clash = d < rr[ij[:, 0]] + rr[ij[:, 1]] + min_gap
                keep = np.ones(chosen_idx.size, dtype=bool)
                keep[np.maximum(ij[clash, 0], ij[clash, 1])] = False
                chosen_idx, chosen = chosen_idx[keep], chosen[keep]
        pos[chosen_idx] = chosen
        done[chosen_idx] = True
        pending = pending[~done[pending]]
    if pending.size:
        raise RuntimeError(
            f"could not place {pending.size} of {n} particles without overlap in a volume of "
            f"shape {shape} (min_gap={min_gap}): the requested crowding is beyond what random "
            "sequential addition reaches (about 35-40% of the volume in bounding spheres). Lower "
            "density_scale or counts, or use a larger volume."
        )
    return pos
