"""Resuming a block-by-block run never mixes results: manifests, input hashes, locks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import zarr

import voxpick.tiling.chunked as chunked
from voxpick.api import locate
from voxpick.simulate import simulate_volume

KW = {"diameter": 6, "method": "classical", "chunks": 16, "scheduler": "synchronous"}


@pytest.fixture(scope="module")
def sim():
    return simulate_volume((40, 48, 44), radius=3, volfrac=0.35, rng=12)


def crash_after(monkeypatch, n: int) -> None:
    """Make the (n+1)-th block raise, as a killed run would stop."""
    real = chunked.find_in_block
    calls = []

    def find(data, **k):
        calls.append(1)
        if len(calls) > n:
            raise KeyboardInterrupt("simulated kill")
        return real(data, **k)

    monkeypatch.setattr(chunked, "find_in_block", find)


def interrupted(volume, out, monkeypatch, n=4, **kw):
    with monkeypatch.context() as m:
        crash_after(m, n)
        with pytest.raises(KeyboardInterrupt):
            locate(volume, out=out, **{**KW, **kw})
    assert not out.exists()
    return sorted(out.with_name(out.name + ".parts").glob("b*.parquet"))


def test_parts_without_a_manifest_are_refused(sim, tmp_path, monkeypatch):
    out = tmp_path / "p.csv"
    parts = interrupted(sim.volume, out, monkeypatch)
    assert len(parts) == 4
    (parts[0].parent / "manifest.json").unlink()
    with pytest.raises(ValueError, match=r"holds block results but no manifest\.json"):
        locate(sim.volume, out=out, **{**KW, "diameter": 7})


def edit_after_a_kill(sim, tmp_path, monkeypatch, **kw):
    store = zarr.open_array(
        str(tmp_path / "v.zarr"), mode="w", shape=sim.volume.shape, chunks=(8, 8, 8), dtype="u1"
    )
    store[...] = sim.volume
    out = tmp_path / "p.parquet"
    parts = interrupted(store, out, monkeypatch, n=20, **kw)
    # blank the core of a finished block
    chunks = json.loads((parts[0].parent / "manifest.json").read_text())["chunks"]

    def core(part):
        index = [int(i) for i in part.stem[1:].split("_")]
        return tuple(
            slice(i * c, min((i + 1) * c, n))
            for i, c, n in zip(index, chunks, sim.volume.shape, strict=True)
        )

    # the finished block with the largest core (edge blocks can be thin)
    box = max((core(p) for p in parts), key=lambda b: np.prod([s.stop - s.start for s in b]))
    edited = sim.volume.copy()
    edited[box] = int(np.median(sim.volume))
    store[box] = edited[box]
    return store, edited, out, box


def test_an_edited_region_is_computed_again(sim, tmp_path, monkeypatch):
    # fixed global parameters: only the per-block hashes can notice the edit
    fixed = {"noise": 5.0, "z_blur": 0.0, "threshold": 4.0}
    store, edited, out, box = edit_after_a_kill(sim, tmp_path, monkeypatch, **fixed)
    fresh = locate(edited, **KW, **fixed)
    resumed = locate(store, out=out, **KW, **fixed)
    pd.testing.assert_frame_equal(resumed, fresh)
    original = locate(sim.volume, **KW, **fixed)

    def inside(found):
        pos = found[["z", "y", "x"]].to_numpy()
        return sum(
            np.all([(b.start <= p) & (p < b.stop) for b, p in zip(box, pos.T, strict=True)], axis=0)
        )

    assert inside(original) > inside(fresh)  # the edit removed particles


def test_an_edit_that_moves_the_global_estimates_is_refused(sim, tmp_path, monkeypatch):
    store, _, out, _ = edit_after_a_kill(sim, tmp_path, monkeypatch)
    with pytest.raises(ValueError, match=r"different run .*\['params'\]"):
        locate(store, out=out, **KW)


def test_an_empty_or_truncated_part_is_computed_again(sim, tmp_path, monkeypatch):
    out = tmp_path / "p.csv"
    ref = locate(sim.volume, **KW)
    parts = interrupted(sim.volume, out, monkeypatch)
    parts[0].write_bytes(b"")
    parts[1].write_bytes(parts[1].read_bytes()[:100])
    got = locate(sim.volume, out=out, **KW)
    pd.testing.assert_frame_equal(got, ref)


def test_two_runs_on_one_output_refuse_with_the_other_run_named(sim, tmp_path):
    from filelock import FileLock

    out = tmp_path / "p.csv"
    lock = FileLock(str(tmp_path / ".p.csv.lock"))
    (tmp_path / ".p.csv.lock.json").write_text('{"pid": 4242, "host": "node7", "started": "today"}')
    with lock, pytest.raises(RuntimeError, match=r"another voxpick run .pid 4242 on node7"):
        locate(sim.volume, out=out, **KW)
    assert not out.exists() and not (tmp_path / "p.csv.parts").exists()
    locate(sim.volume, out=out, **KW)  # once the other run is gone
    assert out.is_file()


def test_temporaries_of_a_killed_write_are_cleaned_up(sim, tmp_path):
    out = tmp_path / "p.csv"
    stale = tmp_path / ".p.csv.abc123.part"
    stale.write_text("half a table")
    locate(sim.volume, out=out, **KW)
    assert out.is_file() and not stale.exists()
