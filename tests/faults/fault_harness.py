"""Fault injection for voxpick runs, in the spirit of SQLite's crash tests.

A job (``voxpick.locate(..., out=...)`` block by block, or a training run) runs in a child
process forked from a warm fork server (:mod:`fault_preload`), so a child starts in
milliseconds. The child is killed (SIGKILL, SIGTERM or SIGINT) at a seeded random time, or
kills itself at a chosen point (before the k-th block, before the k-th rename of an atomic
write, after the k-th checkpoint, with the temporary file torn), or runs under a file-size
limit (``RLIMIT_FSIZE``: a full disk). The test then damages what was left if it likes
(truncated or flipped part files and checkpoints, an edited input) and reruns the job in this
process. Every fault ends in one of three outcomes, counted in :data:`TALLY`:

``equal``
    The rerun's result equals the uninterrupted run's exactly (``assert_frame_equal`` and
    ``attrs``; for training, every weight and loss).
``refused``
    The rerun refused with a one-line ``ValueError``/``TypeError``/``OSError``/``KeyError``
    (what the CLI prints as ``error: ...``) that names the file; a clean start then equals.
``wrong``
    Anything else: a different result, a partial final output, a traceback from inside.

A kill sent after the job had already ended is ``missed`` and not counted as a fault.

This module is imported by name (``tests/faults`` is put on ``sys.path`` by its conftest), also
in the children.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import resource
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}

#: Errors the CLI prints as one ``error:`` line (voxpick.cli.common.user_errors).
CLEAR = (ValueError, TypeError, OSError, KeyError)


# ----------------------------------------------------------------------------- child side


def _fire(sig: int) -> None:
    os.kill(os.getpid(), sig)
    if sig == signal.SIGINT:
        time.sleep(0.05)  # let the main thread take the KeyboardInterrupt here


def _count_calls(module: Any, name: str, n: int, action: Callable[..., None], *, after=False):
    """Wrap ``module.name`` so that ``action(args)`` runs at call ``n + 1`` (0-based ``n``)."""
    real = getattr(module, name)
    calls = [0]

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        hit = calls[0] == n + 1
        if hit and not after:
            action(*args)
        result = real(*args, **kwargs)
        if hit and after:
            action(*args)
        return result

    setattr(module, name, wrapped)


def _install_kill(kill: dict[str, Any] | None) -> None:
    """Make this child kill itself at the point ``kill`` names (see :func:`kill_spec`)."""
    if not kill or kill["at"] == "time":
        return
    sig = SIGNALS[kill["signal"]]
    at, n = kill["at"], int(kill["n"])

    def fire(*_: Any) -> None:
        _fire(sig)

    if at == "block":
        import voxpick.tiling.chunked as chunked

        _count_calls(chunked, "find_in_block", n, fire)
    elif at == "step":
        import voxpick.ml.train as ml_train

        _count_calls(ml_train, "heatmap_loss", n, fire)
    elif at == "checkpoint":
        import voxpick.nn.train as nn_train

        _count_calls(nn_train, "save_checkpoint", n, fire, after=True)
    elif at == "rename":
        _count_calls(os, "replace", n, fire)
    elif at == "torn":
        fraction = float(kill.get("fraction", 0.5))

        def tear(src: Any, *_: Any) -> None:
            size = os.path.getsize(src)
            with open(src, "r+b") as fh:
                fh.truncate(int(size * fraction))
            os.kill(os.getpid(), signal.SIGKILL)  # power lost with half the data on disk

        _count_calls(os, "replace", n, tear)
    else:  # pragma: no cover - a typo in a test
        raise ValueError(f"unknown kill point {at!r}")


def _locate_job(spec: dict[str, Any]) -> None:
    import voxpick

    voxpick.locate(spec["volume"], out=spec["out"], **spec["kwargs"])


def _train_job(spec: dict[str, Any]) -> None:
    from voxpick.ml import TrainConfig, train

    config = None if spec.get("resume") else TrainConfig.from_dict(spec["config"])
    train(config, spec["out"], resume=bool(spec.get("resume")), progress=False, log=None)


def _cli_job(spec: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from voxpick.cli.app import app

    result = CliRunner().invoke(app, spec["args"])
    if result.exit_code:
        raise SystemExit(f"exit {result.exit_code}: {' '.join(result.output.split())}")


JOBS: dict[str, Callable[[dict[str, Any]], None]] = {
    "locate": _locate_job,
    "train": _train_job,
    "cli": _cli_job,
}


def child_main(kind: str, spec: dict[str, Any], status: str, log: str) -> None:
    """Run one job in a child: its output to ``log``, how it ended to ``status`` (JSON)."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        if spec.get("fsize") is not None:  # a full disk: writes past the limit fail (EFBIG)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (int(spec["fsize"]), hard))
        _install_kill(spec.get("kill"))
        JOBS[kind](spec)
        ended: dict[str, Any] = {"ok": True}
    except BaseException as err:
        ended = {
            "ok": False,
            "type": type(err).__name__,
            "clear": isinstance(err, CLEAR) and "\n" not in str(err) and bool(str(err)),
            "message": str(err)[:2000],
        }
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    Path(status).write_text(json.dumps(ended))


# ----------------------------------------------------------------------------- parent side


@dataclass
class Ended:
    """How a child ended: killed (no status), or its status."""

    killed: bool
    status: dict[str, Any] | None
    seconds: float
    exitcode: int | None


class Runner:
    """Starts jobs in children of a warm fork server and kills them."""

    def __init__(self, workdir: Path) -> None:
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(["fault_preload"])
        self.workdir = workdir
        self.count = 0

    def start(self, kind: str, spec: dict[str, Any]) -> tuple[Any, Path]:
        """Start a job; return the process and its status file."""
        self.count += 1
        status = self.workdir / f"status-{self.count}.json"
        log = self.workdir / f"child-{self.count}.log"
        proc = self.ctx.Process(target=child_main, args=(kind, spec, str(status), str(log)))
        proc.start()
        return proc, status

    def finish(self, proc: Any, status: Path, *, t0: float, timeout: float = 300) -> Ended:
        """Wait for a started job and say how it ended."""
        proc.join(timeout)
        if proc.is_alive():  # pragma: no cover - a hung child is a failure of the test
            proc.kill()
            proc.join()
            raise AssertionError(f"a child hung for {timeout} s (log {status})")
        data = json.loads(status.read_text()) if status.is_file() else None
        return Ended(data is None, data, time.perf_counter() - t0, proc.exitcode)

    def run(
        self,
        kind: str,
        spec: dict[str, Any],
        *,
        kill_after: float | None = None,
        sig: str = "SIGKILL",
    ) -> Ended:
        """Run a job; with ``kill_after``, send ``sig`` that many seconds after its start."""
        t0 = time.perf_counter()
        proc, status = self.start(kind, spec)
        if kill_after is not None:
            proc.join(kill_after)
            if proc.is_alive():
                os.kill(proc.pid, SIGNALS[sig])
        return self.finish(proc, status, t0=t0)


def kill_spec(rng: np.random.Generator, *, points: dict[str, int], sig: str) -> dict[str, Any]:
    """A seeded kill point: ``{"at": POINT, "n": k, "signal": sig}``.

    ``points`` maps the kill points to use to how many events of that kind a run has (blocks,
    renames, steps, checkpoints); ``"time"`` maps to nothing and means a kill from outside.
    """
    at = str(rng.choice(sorted(points)))
    n = int(rng.integers(0, max(1, points[at])))
    spec: dict[str, Any] = {"at": at, "n": n, "signal": sig}
    if at == "torn":
        spec["fraction"] = float(rng.uniform(0, 1))
    return spec


# ----------------------------------------------------------------------------- bookkeeping


@dataclass
class Tally:
    """Faults injected and how each ended."""

    rows: list[dict[str, str]] = field(default_factory=list)

    def record(self, family: str, fault: str, outcome: str, detail: str = "") -> str:
        """Count one fault; return its outcome."""
        assert outcome in ("equal", "refused", "wrong", "missed"), outcome
        self.rows.append({"family": family, "fault": fault, "outcome": outcome, "detail": detail})
        return outcome

    def summary(self) -> pd.DataFrame:
        """One row per family: faults injected, survived (equal, refused) and wrong results.

        Kills sent after the job had ended (``missed``) are not faults and are not counted.
        """
        cols = ["family", "faults injected", "rerun equal", "refused (clear)", "wrong results"]
        df = pd.DataFrame(self.rows, columns=["family", "fault", "outcome", "detail"])
        df = df[df["outcome"] != "missed"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        out = (
            df.groupby("family", sort=False)["outcome"]
            .agg(
                injected="size",
                equal=lambda s: int((s == "equal").sum()),
                refused=lambda s: int((s == "refused").sum()),
                wrong=lambda s: int((s == "wrong").sum()),
            )
            .reset_index()
        )
        total = pd.DataFrame(
            [
                [
                    "all",
                    len(df),
                    *(int((df["outcome"] == k).sum()) for k in ("equal", "refused", "wrong")),
                ]
            ],
            columns=out.columns,
        )
        out = pd.concat([out, total], ignore_index=True)
        out.columns = cols
        return out

    def wrong(self) -> list[dict[str, str]]:
        """The faults that ended in a wrong result."""
        return [r for r in self.rows if r["outcome"] == "wrong"]


#: Every fault of this test session.
TALLY = Tally()


def markdown(df: pd.DataFrame) -> str:
    """A pipe table."""
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- checks


def frames_equal(got: pd.DataFrame, ref: pd.DataFrame) -> str | None:
    """None when the tables and their ``attrs`` are equal exactly, else the difference."""
    try:
        pd.testing.assert_frame_equal(got, ref, check_exact=True)
    except AssertionError as err:
        return " ".join(str(err).split())[:300]
    if dict(got.attrs) != dict(ref.attrs):
        keys = sorted(
            k for k in set(got.attrs) | set(ref.attrs) if got.attrs.get(k) != ref.attrs.get(k)
        )
        return f"attrs differ in {keys}"
    return None


def leftovers(out: Path) -> list[str]:
    """What a finished run must not leave beside ``out``: parts, temporaries, a lock owner."""
    found = sorted(out.parent.glob(f".{out.name}.*.part"))
    for extra in (out.with_name(out.name + ".parts"), out.with_name(f".{out.name}.lock.json")):
        if extra.exists():
            found.append(extra)
    return [p.name for p in found]


def is_clear(err: BaseException, *names: str) -> bool:
    """A one-line error of a type the CLI prints, naming one of ``names`` (when given)."""
    text = str(err)
    return (
        isinstance(err, CLEAR)
        and bool(text)
        and "\n" not in text
        and (not names or any(n in text for n in names))
    )


@contextlib.contextmanager
def judged(family: str, fault: str, tally: Tally = TALLY) -> Iterator[dict[str, str]]:
    """Record one fault; the block sets ``box["outcome"]`` (and ``box["detail"]``).

    An exception escaping the block is a wrong result (a traceback from inside).
    """
    box = {"outcome": "wrong", "detail": ""}
    try:
        yield box
    except Exception as err:
        box["outcome"], box["detail"] = "wrong", f"unexpected {type(err).__name__}: {err}"[:300]
    tally.record(family, fault, box["outcome"], box["detail"])


def copy_tree(src: Path, dst: Path) -> Path:
    """Copy a directory (a zarr store) afresh."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst
