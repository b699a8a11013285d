from __future__ import annotations

import numpy as np
import pytest

from voxpick.tiling.blocks import (
    owner_voxel,
    plan_blocks,
    resolve_chunks,
    resolve_overlap,
)


@pytest.mark.parametrize(
    ("shape", "chunks", "overlap"),
    [
        ((37, 50, 23), (10, 16, 23), (4, 5, 6)),
        ((9, 9, 9), (4, 4, 4), (0, 0, 0)),
        ((5, 64, 3), (8, 20, 1), (3, 3, 3)),
    ],
)
def test_cores_tile_the_volume_exactly_and_halos_are_clipped(shape, chunks, overlap):
    blocks = plan_blocks(shape, chunks=chunks, overlap=overlap)
    count = np.zeros(shape, np.int32)
    for b in blocks:
        core = tuple(slice(s, e) for s, e in zip(b.core_start, b.core_stop, strict=True))
        count[core] += 1
        for ax in range(3):
            assert b.outer_start[ax] == max(0, b.core_start[ax] - overlap[ax])
            assert b.outer_stop[ax] == min(shape[ax], b.core_stop[ax] + overlap[ax])
        assert b.outer_shape == tuple(
            e - s for s, e in zip(b.outer_start, b.outer_stop, strict=True)
        )
    assert (count == 1).all()
    assert len({b.name for b in blocks}) == len(blocks)


def test_every_position_has_exactly_one_owner():
    shape = (23, 17, 30)
    blocks = plan_blocks(shape, chunks=(5, 8, 7), overlap=(3, 3, 3))
    rng = np.random.default_rng(0)
    pos = rng.uniform(-0.5, np.asarray(shape) - 0.5, size=(5000, 3))
    # exact half-voxel ties and the volume's faces
    pos[:6] = [
        [4.5, 7.5, 6.5],
        [-0.5, -0.5, -0.5],
        [22.49, 16.49, 29.49],
        [5.5, 0, 0],
        [0, 8.5, 0],
        [0, 0, 13.5],
    ]
    owners = np.zeros(len(pos), int)
    for b in blocks:
        owners += b.owns(pos, shape)
    assert (owners == 1).all()
    np.testing.assert_array_equal(
        owner_voxel(pos[:4], shape), [[5, 8, 7], [0, 0, 0], [22, 16, 29], [6, 0, 0]]
    )


def test_resolve_chunks_rounds_up_to_the_alignment_and_clips():
    assert resolve_chunks(30, (100, 100, 20), align=(4, 5, 3)) == (32, 30, 20)
    assert resolve_chunks((8, 9, 10), (100, 100, 100)) == (8, 9, 10)
    assert resolve_chunks(None, (1000, 50, 300)) == (256, 50, 256)


@pytest.mark.parametrize(
    ("chunks", "error", "message"),
    [
        (0, ValueError, "expected >= 1"),
        ((1, 2), ValueError, "has 2 values"),
        (2.5, TypeError, "not an integer"),
        ("big", TypeError, "not an integer"),
        ((8, 8, 8.5), TypeError, "whole numbers"),
    ],
)
def test_bad_chunks_are_named(chunks, error, message):
    with pytest.raises(error, match=message) as info:
        resolve_chunks(chunks, (50, 50, 50))
    assert "chunks=" in str(info.value)


def test_overlap_default_explicit_and_too_small():
    d = (10.0, 8.0, 8.0)
    assert resolve_overlap(None, default=(23, 19, 19), diameter_px=d, align=(5, 4, 4)) == (
        25,
        20,
        20,
    )
    assert resolve_overlap(12, default=(23, 19, 19), diameter_px=d, align=(1, 1, 1)) == (12, 12, 12)
    with pytest.raises(
        ValueError, match=r"overlap=\(4, 12, 12\) is narrower than one particle diameter .* along z"
    ):
        resolve_overlap((4, 12, 12), default=(23, 19, 19), diameter_px=d, align=(1, 1, 1))
