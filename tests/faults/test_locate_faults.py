"""Faults in block-by-block ``voxpick.locate(..., out=...)`` runs: the rerun is exact or refuses.

Each test injects seeded faults into runs of the classical detector over a small zarr volume
(18 blocks) and judges each one (``fault_harness``). Seeds below ``QUICK`` run in CI; the
others are marked ``slow`` and run with ``make test-faults``.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fault_harness as fh
import numpy as np
import pytest
import zarr

import voxpick
from voxpick.io import read_positions
from voxpick.simulate import simulate_volume

pytestmark = pytest.mark.faults

SHAPE = (36, 40, 40)
BLOCKS = 18  # chunks=16 -> cores of 18 voxels (the classical alignment) -> 2 x 3 x 3
SIGNALS = ("SIGKILL", "SIGTERM", "SIGINT")


def seeds(quick: int, full: int) -> list[Any]:
    """``quick`` seeds for CI, then up to ``full`` marked slow (``make test-faults``)."""
    return [s if s < quick else pytest.param(s, marks=pytest.mark.slow) for s in range(full)]


@dataclass
class World:
    """The volume, a zarr copy of it and the uninterrupted results, by run settings."""

    root: Path
    volume: np.ndarray
    template: Path
    refs: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    seconds: dict[tuple[Any, ...], float] = field(default_factory=dict)
    cases: int = 0

    def case(self) -> tuple[Path, Path]:
        """A fresh directory with its own copy of the zarr volume."""
        self.cases += 1
        d = self.root / f"case{self.cases:04d}"
        d.mkdir()
        return fh.copy_tree(self.template, d / "v.zarr"), d

    def reference(self, volume: Any, kwargs: dict[str, Any], suffix: str, key: Any = None):
        """The uninterrupted run: returned table and the table read back from its file."""
        key = (suffix, json.dumps(kwargs, sort_keys=True), key)
        if key not in self.refs:
            out = self.root / f"ref{len(self.refs)}.{suffix}"
            t0 = time.perf_counter()
            table = voxpick.locate(volume, out=out, **kwargs)
            self.seconds[key] = time.perf_counter() - t0
            self.refs[key] = (table, read_positions(out))
        return self.refs[key]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("locate-faults")
    vol = simulate_volume(SHAPE, radius=3, volfrac=0.3, rng=5).volume
    store = zarr.open_array(
        str(root / "template.zarr"), mode="w", shape=SHAPE, chunks=(16, 16, 16), dtype=vol.dtype
    )
    store[...] = vol
    return World(root, vol, root / "template.zarr")


def settings(rng: np.random.Generator, *, method: str = "classical") -> tuple[dict, str]:
    kwargs = {
        "diameter": 6,
        "method": method,
        "chunks": 16,
        "scheduler": str(rng.choice(["synchronous", "threads"])),
    }
    return kwargs, str(rng.choice(["csv", "parquet"]))


def judge_rerun(
    box: dict[str, str], volume: Any, out: Path, kwargs: dict[str, Any], ref: Any, *names: str
) -> None:
    """Rerun into ``out``: equal to ``ref``, or a clear refusal after which a clean start is."""
    table, read_back = ref
    try:
        got = voxpick.locate(volume, out=out, **kwargs)
    except fh.CLEAR as err:
        if not fh.is_clear(err, *names):
            box["detail"] = f"unclear refusal {type(err).__name__}: {err}"[:300]
            return
        shutil.rmtree(out.with_name(out.name + ".parts"), ignore_errors=True)
        got = voxpick.locate(volume, out=out, **kwargs)  # what the message tells the user
        box["outcome"], box["detail"] = "refused", str(err)[:200]
    else:
        box["outcome"] = "equal"
    diff = fh.frames_equal(got, table) or fh.frames_equal(read_positions(out), read_back)
    left = fh.leftovers(out)
    if diff or left:
        box["outcome"], box["detail"] = "wrong", f"{diff or ''} left {left}"


def judge_final_output(box: dict[str, str], out: Path, ref: Any) -> bool:
    """After a fault: a final output, if there is one, is complete and equal; False if not."""
    if not out.exists():
        return True
    try:
        diff = fh.frames_equal(read_positions(out), ref[1])
    except Exception as err:
        diff = f"{type(err).__name__}: {err}"
    if diff:
        box["detail"] = f"partial or wrong final output after the fault: {diff}"[:300]
        return False
    return True


def run_seconds(world: World, kwargs: dict, suffix: str) -> float:
    """Time of the uninterrupted run with these settings (a warm child takes about as long)."""
    return world.seconds[(suffix, json.dumps(kwargs, sort_keys=True), None)]


@pytest.mark.parametrize("seed", seeds(1, 30))
def test_a_killed_run_resumes_to_the_same_result(world, runner, seed):
    rng = np.random.default_rng([21, 1, seed])
    kwargs, suffix = settings(rng)
    if seed >= 26:  # the slow part: method="auto" (U-Net estimate, then its choice)
        kwargs["method"] = "auto"
    sig = SIGNALS[seed % 3]
    ref = world.reference(str(world.template), kwargs, suffix)
    volume, d = world.case()
    out = d / f"p.{suffix}"
    spec = {"volume": str(volume), "out": str(out), "kwargs": kwargs}
    if seed % 2 == 0:
        delay = float(rng.uniform(0, 1.1)) * run_seconds(world, kwargs, suffix)
        fault, ended = (
            f"{sig} at {delay:.2f} s",
            runner.run("locate", spec, kill_after=delay, sig=sig),
        )
    else:
        spec["kill"] = fh.kill_spec(rng, points={"block": BLOCKS, "rename": BLOCKS + 3,
                                                 "torn": BLOCKS + 3}, sig=sig)  # fmt: skip
        fault, ended = f"{sig} {spec['kill']}", runner.run("locate", spec)
    with fh.judged("kill locate", f"{fault} {kwargs['scheduler']} {suffix}") as box:
        if judge_final_output(box, out, ref):
            judge_rerun(box, str(volume), out, kwargs, ref, str(out))
            if (ended.status or {}).get("ok") and box["outcome"] == "equal":
                box["outcome"] = "missed"  # the run ended before the kill
    assert box["outcome"] != "wrong", (box, ended)


def _truncate(path: Path, rng: np.random.Generator) -> str:
    data = path.read_bytes()
    path.write_bytes(data[: int(rng.integers(0, max(1, len(data))))])
    return f"truncate {path.name}"


def _flip(path: Path, rng: np.random.Generator) -> str:
    data = bytearray(path.read_bytes())
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(0, len(data)))
        data[i] ^= 1 << int(rng.integers(0, 8))
    path.write_bytes(bytes(data))
    return f"flip bits of {path.name}"


def _garbage(path: Path, rng: np.random.Generator) -> str:
    with path.open("ab") as fh_:
        fh_.write(rng.bytes(int(rng.integers(1, 200))))
    return f"append garbage to {path.name}"


def corrupt(parts_dir: Path, rng: np.random.Generator) -> list[str]:
    """Damage the parts directory of a killed run in one to three seeded ways."""
    done = []
    for _ in range(int(rng.integers(1, 4))):
        parts = sorted(p for p in parts_dir.glob("b*") if p.suffix != ".json")
        manifest = parts_dir / "manifest.json"
        how = str(rng.choice(["truncate", "empty", "flip", "garbage", "swap", "delete",
                              "manifest", "stray"]))  # fmt: skip
        if how in ("truncate", "empty", "flip", "garbage", "swap", "delete") and not parts:
            how = "manifest"
        if how == "manifest" and not manifest.exists():
            how = "stray"
        pick = parts[int(rng.integers(0, len(parts)))] if parts else None
        if how == "truncate":
            done.append(_truncate(pick, rng))
        elif how == "empty":
            pick.write_bytes(b"")
            done.append(f"empty {pick.name}")
        elif how == "flip":
            done.append(_flip(pick, rng))
        elif how == "garbage":
            done.append(_garbage(pick, rng))
        elif how == "swap":
            other = parts[int(rng.integers(0, len(parts)))]
            pick.write_bytes(other.read_bytes())
            done.append(f"copy {other.name} over {pick.name}")
        elif how == "delete":
            pick.unlink()
            done.append(f"delete {pick.name}")
        elif how == "manifest":
            action = [_truncate, _flip, _garbage][int(rng.integers(0, 3))]
            done.append(action(manifest, rng))
        else:
            stray = parts_dir / "b0099_0000_0000.parquet"
            stray.write_bytes(rng.bytes(100))
            done.append("stray part of no block")
    return done


@pytest.mark.parametrize("seed", seeds(1, 32))
def test_damaged_parts_are_recomputed_or_refused(world, runner, seed):
    rng = np.random.default_rng([21, 2, seed])
    kwargs, suffix = settings(rng)
    ref = world.reference(str(world.template), kwargs, suffix)
    volume, d = world.case()
    out = d / f"p.{suffix}"
    kill = {"at": "block", "n": int(rng.integers(4, BLOCKS)), "signal": "SIGKILL"}
    runner.run("locate", {"volume": str(volume), "out": str(out), "kwargs": kwargs, "kill": kill})
    parts = out.with_name(out.name + ".parts")
    damage = corrupt(parts, rng) if parts.is_dir() else ["(no parts)"]
    with fh.judged("damaged parts", "; ".join(damage)) as box:
        judge_rerun(box, str(volume), out, kwargs, ref, str(parts))
    assert box["outcome"] != "wrong", box


def edit(store: Any, rng: np.random.Generator) -> str:
    """Change a random box of the volume in one of a few seeded ways."""
    lo = [int(rng.integers(0, n - 4)) for n in SHAPE]
    hi = [int(rng.integers(a + 2, min(n, a + 20) + 1)) for a, n in zip(lo, SHAPE, strict=True)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    data = store[box]
    how = str(rng.choice(["blank", "dim", "noise", "one voxel"]))
    if how == "blank":
        data[...] = int(np.median(data))
    elif how == "dim":
        data[...] = data // 2
    elif how == "noise":
        data[...] = np.clip(data + rng.integers(-20, 21, data.shape), 0, 255)
    else:
        data = store[box]
        data.flat[0] = 255 - data.flat[0]
    store[box] = data
    return f"{how} {tuple((s.start, s.stop) for s in box)}"


@pytest.mark.parametrize("seed", seeds(1, 16))
def test_an_edited_input_is_recomputed_or_refused(world, runner, seed):
    rng = np.random.default_rng([21, 3, seed])
    kwargs, suffix = settings(rng)
    if seed % 2:  # global estimates fixed: only the per-block hashes can see the edit
        kwargs.update(noise=5.0, z_blur=0.0, threshold=4.0)
    volume, d = world.case()
    out = d / f"p.{suffix}"
    kill = {"at": "block", "n": int(rng.integers(4, BLOCKS)), "signal": "SIGKILL"}
    runner.run("locate", {"volume": str(volume), "out": str(out), "kwargs": kwargs, "kill": kill})
    store = zarr.open_array(str(volume), mode="r+")
    what = edit(store, rng)
    edited = fh.copy_tree(volume, d / "edited.zarr")
    ref = world.reference(str(edited), kwargs, suffix, key=f"case {d.name}")
    with fh.judged("edited input", what) as box:
        judge_rerun(box, str(volume), out, kwargs, ref, str(out))
    assert box["outcome"] != "wrong", box


@pytest.mark.parametrize("seed", seeds(1, 12))
def test_two_runs_on_one_output(world, runner, seed):
    rng = np.random.default_rng([21, 4, seed])
    kwargs, suffix = settings(rng)
    other = {**kwargs, "diameter": 7 if seed % 2 else 6}
    refs = [world.reference(str(world.template), k, suffix) for k in (kwargs, other)]
    volume, d = world.case()
    out = d / f"p.{suffix}"
    t0 = time.perf_counter()
    first = runner.start("locate", {"volume": str(volume), "out": str(out), "kwargs": kwargs})
    delay = float(rng.uniform(0, 1.2)) * run_seconds(world, kwargs, suffix)
    time.sleep(delay)
    second = runner.start("locate", {"volume": str(volume), "out": str(out), "kwargs": other})
    ended = [runner.finish(*first, t0=t0), runner.finish(*second, t0=t0)]
    with fh.judged("two runs, one output", f"second after {delay:.2f} s") as box:
        bad = [
            e.status
            for e in ended
            if not (e.status or {}).get("ok")
            and not ((e.status or {}).get("clear") and "another voxpick run" in e.status["message"])
        ]
        ok = [i for i, e in enumerate(ended) if (e.status or {}).get("ok")]
        if bad or not ok:
            box["detail"] = f"a run ended badly: {bad or ended}"
        else:
            # with the lock, two successes ran one after the other: the second's result stays
            diff = fh.frames_equal(read_positions(out), refs[ok[-1]][1])
            if diff or fh.leftovers(out):
                box["detail"] = f"output is not the last run's result: {diff}, {fh.leftovers(out)}"
            else:
                box["outcome"] = "equal" if len(ok) == 2 else "refused"
    assert box["outcome"] != "wrong", box


@pytest.mark.parametrize("seed", seeds(1, 16))
def test_a_full_disk_fails_cleanly_and_the_rerun_is_exact(world, runner, seed):
    rng = np.random.default_rng([21, 5, seed])
    kwargs, suffix = settings(rng)
    ref = world.reference(str(world.template), kwargs, suffix)
    volume, d = world.case()
    out = d / f"p.{suffix}"
    limit = int(np.exp(rng.uniform(np.log(300), np.log(60_000))))
    spec = {"volume": str(volume), "out": str(out), "kwargs": kwargs, "fsize": limit}
    ended = runner.run("locate", spec)
    with fh.judged("full disk", f"files limited to {limit} bytes, {suffix}") as box:
        status = ended.status or {}
        if not status.get("ok") and not status.get("clear"):
            box["detail"] = f"unclear error when the disk filled: {status}"
        elif judge_final_output(box, out, ref):
            judge_rerun(box, str(volume), out, kwargs, ref, str(out))
    assert box["outcome"] != "wrong", (box, ended)
