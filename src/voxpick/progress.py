"""Progress displays that work in a terminal and in Jupyter: bars of steps, and stages.

One place for every progress display of voxpick (blocks of a run, frames of a series, the
stages of a locate). They are rich progress bars on stderr: live in a terminal, and live in a
Jupyter notebook when ``ipywidgets`` is installed (rich draws them in an output widget). In a
notebook without ``ipywidgets`` rich cannot draw live, so :func:`progress_display` prints a
line at the start, at every tenth of the work and at the end instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import time
from collections.abc import Iterator
from typing import Any


def _in_notebook_without_widgets() -> bool:
    from rich.console import Console

    return Console(stderr=True).is_jupyter and importlib.util.find_spec("ipywidgets") is None


class LineProgress:
    """A progress display that prints lines: for notebooks without ``ipywidgets``.

    It has the part of :class:`rich.progress.Progress` that voxpick uses: a context manager with
    ``add_task``, ``advance`` and ``update``.

    Parameters
    ----------
    stream : file-like, optional
        Where lines go (default ``sys.stderr``).
    """

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream
        self.tasks: dict[int, dict[str, Any]] = {}

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        for task_id, task in self.tasks.items():
            if not task["closed"]:
                self._line(task_id, final=True)

    def _line(self, task_id: int, *, final: bool = False) -> None:
        task = self.tasks[task_id]
        elapsed = time.perf_counter() - task["start"]
        done = task["completed"]
        count = f" {done:g}/{task['total']:g}" if task["total"] else ""
        state = "done" if final else "..."
        print(
            f"{task['description']}{count} {state} ({elapsed:.0f} s)",
            file=self.stream or sys.stderr,
            flush=True,
        )
        task["printed"] = done
        task["closed"] = final

    def add_task(
        self, description: str, *, total: float | None = None, completed: float = 0
    ) -> int:
        """Start a task; print its first line.

        Parameters
        ----------
        description : str
        total : float, optional
            Steps in all (``None``: unknown).
        completed : float
            Steps already done.

        Returns
        -------
        int
            The task id.
        """
        task_id = len(self.tasks)
        self.tasks[task_id] = {
            "description": description, "total": total, "completed": completed,
            "start": time.perf_counter(), "printed": completed, "closed": False,
        }  # fmt: skip
        self._line(task_id)
        return task_id

    def update(
        self,
        task_id: int,
        *,
        completed: float | None = None,
        total: float | None = None,
        description: str | None = None,
        advance: float | None = None,
        **_: Any,
    ) -> None:
        """Change a task; print a line at each tenth of the work and on a new description."""
        task = self.tasks[task_id]
        changed = description is not None and description != task["description"]
        if description is not None:
            task["description"] = description
        if total is not None:
            task["total"] = total
        if completed is not None:
            task["completed"] = completed
        if advance is not None:
            task["completed"] += advance
        step = 0.1 * task["total"] if task["total"] else None
        if changed or (step and task["completed"] - task["printed"] >= step):
            self._line(task_id)

    def advance(self, task_id: int, advance: float = 1) -> None:
        """Add ``advance`` steps to a task."""
        self.update(task_id, advance=advance)

    def remove_task(self, task_id: int) -> None:
        """Close a task: print its last line."""
        if not self.tasks[task_id]["closed"]:
            self._line(task_id, final=True)


def progress_display(*, enabled: bool = True, transient: bool = False) -> Any:
    """Return a progress display: rich bars, or :class:`LineProgress` where rich cannot draw.

    Parameters
    ----------
    enabled : bool
        ``False``: a display that shows nothing.
    transient : bool
        Remove the bars when done (a terminal only).

    Returns
    -------
    rich.progress.Progress or LineProgress
        Use as a context manager; ``add_task(description, total=..., completed=...)``,
        ``advance(task)``, ``update(task, ...)``.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if enabled and _in_notebook_without_widgets():
        return LineProgress()
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=transient,
    )


@contextlib.contextmanager
def stage(description: str, *, enabled: bool = True) -> Iterator[None]:
    """Show one stage of work whose length is unknown (a pulsing bar and the time elapsed).

    Parameters
    ----------
    description : str
        E.g. ``"estimating parameters"``.
    enabled : bool
        ``False``: show nothing.

    Yields
    ------
    None
    """
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not (console.is_terminal or console.is_jupyter):
        yield  # nothing to animate in a log file
        return
    with progress_display(transient=True) as display:
        task = display.add_task(description, total=None)
        yield
        display.update(task, total=1, completed=1)
