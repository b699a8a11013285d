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


def test_block_count_is_the_number_of_planned_blocks():
    from voxpick.tiling.blocks import block_count

    cases = [((37, 50, 23), (10, 16, 23)), ((9, 9, 9), (4, 4, 4)), ((5, 64, 3), (8, 20, 1))]
    for shape, chunks in cases:
        planned = plan_blocks(shape, chunks=chunks, overlap=(1, 1, 1))
        assert block_count(shape, chunks) == len(planned)


@pytest.mark.parametrize(
    ("method", "chunks", "message"),
    [
        ("unet", 4, r"chunks=4 makes 4096 blocks .* narrower than one particle diameter \(6, 6"),
        ("classical", 4, r"chunks=4 makes 1331 blocks .* narrower than their halo"),
        ("classical", (64, 64, 2), r"makes 22 blocks .* narrower than one particle diameter .* x:"),
    ],
)
def test_chunks_far_too_small_are_refused_with_the_block_count_and_a_minimum(
    method, chunks, message, tmp_path
):
    from voxpick.api import locate
    from voxpick.simulate import simulate_volume

    vol = simulate_volume(64, radius=3, volfrac=0.3, rng=1).volume
    out = tmp_path / "p.csv"
    with pytest.raises(ValueError, match=message) as err:
        locate(vol, diameter=6, method=method, chunks=chunks, out=out)
    assert "expected cores of at least" in str(err.value) and "blocks), or leave" in str(err.value)
    assert not list(tmp_path.iterdir())  # refused before any block or part
    # the suggested chunks are accepted
    suggested = eval(str(err.value).split("e.g. chunks=")[1].split(" (")[0])
    if method == "classical":
        assert len(locate(vol, diameter=6, method=method, chunks=suggested)) > 0


def test_small_chunks_on_a_small_volume_are_still_accepted():
    from voxpick.api import locate
    from voxpick.simulate import simulate_volume

    vol = simulate_volume((40, 48, 44), radius=3, volfrac=0.35, rng=12).volume
    found = locate(vol, diameter=6, method="classical", chunks=8)  # cores < halo, few blocks
    assert found.attrs["n_blocks"] == 5 * 6 * 5
