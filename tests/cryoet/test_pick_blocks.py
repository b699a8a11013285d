"""Picking block by block gives the picks of one block holding the whole tomogram."""

import numpy as np
import pytest

from voxpick.cryoet import load_picker, pick
from voxpick.simulate import simulate_tomogram


@pytest.fixture(scope="module")
def tomogram():
    vol, truth = simulate_tomogram((48, 112, 112), voxel_size=10.012, rng=5)
    return vol, truth


def test_blocks_and_one_block_give_the_same_picks(tomogram):
    vol, _ = tomogram
    picker = load_picker(None, device="cpu")
    one = pick(vol, model=picker, thresholds=0.01, tile=256)  # one block
    many = pick(vol, model=picker, thresholds=0.01, tile=32)  # 1 x 4 x 4 blocks
    assert len(one) >= 5
    assert len(many) == len(one)
    one = one.sort_values(["particle_type", "z", "y", "x"]).reset_index(drop=True)
    many = many.sort_values(["particle_type", "z", "y", "x"]).reset_index(drop=True)
    assert (one["particle_type"] == many["particle_type"]).all()
    # only the context each block's network saw differs (margins of 32 voxels)
    assert np.abs(one[["z", "y", "x"]].to_numpy() - many[["z", "y", "x"]].to_numpy()).max() < 0.25
    assert np.abs(one["score"].to_numpy() - many["score"].to_numpy()).max() < 0.02
