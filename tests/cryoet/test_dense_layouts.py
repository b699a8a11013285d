"""Tightly packed apo-ferritin, as in real CZII layouts.

Real CZII tomograms pack apo-ferritin in clusters whose neighbouring centres are 0.77-1 times
the sum of the two radii apart. ``picker_czii_synthetic_v1`` was trained on random layouts only
(every bounding sphere apart) and takes two or more touching apo-ferritins for one larger
particle (a ribosome, a thyroglobulin): here it finds 4 of the 13 packed ones and makes 10
large-class picks on the clusters. The shipped ``picker_czii_synthetic_v2`` was fine-tuned on
clustered layouts too (``simulate_tomogram(clustering=...)``) and carries a second stage for
look-alike classes: it finds 6 and makes 2. Finding the packed ones one by one is still a
strict expected failure: a picker that passes it makes it fail until it is made a plain test.
See docs/cryoet.md, "Dense layouts".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from voxpick.cryoet import load_picker, pick
from voxpick.simulate import simulate_tomogram

VOXEL_A = 10.012
#: apo-ferritin radius in voxels
R = 60.0 / VOXEL_A
LARGE = ("beta-galactosidase", "ribosome", "thyroglobulin", "virus-like-particle")


def packed_layout() -> pd.DataFrame:
    """Clusters of touching apo-ferritin (a pair, a triangle, a chain, a tetrahedron)."""
    rows: list[tuple[str, float, float, float]] = []
    gap = 2 * R  # centre distance of two apo-ferritins whose bounding spheres just touch
    # a pair at 0.8 of contact, oblique
    rows += [("apo-ferritin", 30, 24, 24), ("apo-ferritin", 30 + 0.48 * gap, 24 + 0.64 * gap, 24)]
    # a triangle at 0.85 in the y-x plane
    side = 0.85 * gap
    for a in np.radians([0, 120, 240]):
        r = side / np.sqrt(3)
        rows.append(("apo-ferritin", 32, 24 + r * np.cos(a), 80 + r * np.sin(a)))
    # a zigzag chain of four at 0.9
    step = 0.9 * gap
    rows += [("apo-ferritin", 34 + 4 * (k % 2), 64 + 0.95 * step * k, 30 + 0.3 * step * (k % 2))
             for k in range(4)]  # fmt: skip
    # a tetrahedron at 0.8 (in 3D)
    corners = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(8)
    rows += [("apo-ferritin", *(np.array([32.0, 72.0, 96.0]) + 0.8 * gap * c)) for c in corners]
    # two lone apo-ferritins, a ribosome and a thyroglobulin
    rows += [("apo-ferritin", 20, 110, 20), ("apo-ferritin", 44, 110, 64)]
    rows += [("ribosome", 30, 104, 104), ("thyroglobulin", 34, 40, 52)]
    return pd.DataFrame(rows, columns=["particle_type", "z", "y", "x"])


@pytest.fixture(scope="module")
def picked() -> tuple[pd.DataFrame, pd.DataFrame]:
    # seed 9200: apart from the picker's training, validation and test seeds
    vol, truth = simulate_tomogram(
        (64, 128, 128), layout=packed_layout(), voxel_size=VOXEL_A, rng=9200
    )
    return pick(vol, model=load_picker(device="cpu")), truth


def _apo(truth: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    apo = truth.loc[truth["particle_type"] == "apo-ferritin", ["z", "y", "x"]].to_numpy()
    nearest = cKDTree(apo).query(apo, k=2)[0][:, 1]
    return apo, nearest < 2 * R  # packed: bounding spheres overlap a neighbour's


def test_the_layout_packs_apo_ferritin_as_real_czii_layouts_do(picked) -> None:
    _, truth = picked
    apo, packed = _apo(truth)
    assert packed.sum() == 13 and (~packed).sum() == 2
    nearest = cKDTree(apo).query(apo, k=2)[0][:, 1] / (2 * R)
    assert nearest[packed].min() >= 0.77 - 0.04  # the closest CZII pair: 0.77 of contact


def test_shipped_picker_finds_lone_apo_ferritin(picked) -> None:
    found, truth = picked
    apo, packed = _apo(truth)
    picks = found.loc[found["particle_type"] == "apo-ferritin", ["z", "y", "x"]].to_numpy()
    assert (cKDTree(picks).query(apo[~packed])[0] <= R / 2).all()


KNOWN_LIMIT = pytest.mark.xfail(
    strict=True,
    reason="picker_czii_synthetic_v2 finds 6 of the 13 packed apo-ferritins (v1: 4): its "
    "clustered fine-tuning was short (docs/cryoet.md, Dense layouts)",
)


def _packed_hits(found: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    apo, packed = _apo(truth)
    picks = found.loc[found["particle_type"] == "apo-ferritin", ["z", "y", "x"]].to_numpy()
    if not len(picks):
        return np.zeros(int(packed.sum()), bool)
    return (cKDTree(picks).query(apo)[0] <= R / 2)[packed]  # CZII hit: half the radius


@KNOWN_LIMIT
def test_shipped_picker_finds_touching_apo_ferritin_one_by_one(picked) -> None:
    found, truth = picked
    assert _packed_hits(found, truth).mean() >= 0.75


def test_shipped_picker_finds_more_packed_ones_than_the_random_layout_picker(picked) -> None:
    found, truth = picked
    vol, _ = simulate_tomogram((64, 128, 128), layout=packed_layout(), voxel_size=VOXEL_A, rng=9200)
    old = pick(vol, model=load_picker("picker_czii_synthetic_v1", device="cpu"))
    assert _packed_hits(found, truth).sum() >= _packed_hits(old, truth).sum() + 2


def test_clusters_are_not_taken_for_one_large_particle(picked) -> None:
    found, truth = picked
    apo, _ = _apo(truth)
    large = found.loc[found["particle_type"].isin(LARGE), ["z", "y", "x"]].to_numpy()
    # a large-class pick within one apo-ferritin diameter of an apo-ferritin centre is a cluster
    # read as one particle: picker_czii_synthetic_v1 made 10 such picks here
    on_clusters = (cKDTree(apo).query(large)[0] <= 2 * R).sum() if len(large) else 0
    assert on_clusters <= 3, found
