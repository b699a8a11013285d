"""Helpers shared by CLI commands: turning library errors into clean messages."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

err_console = Console(stderr=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print ``ValueError``/``TypeError``/``FileNotFoundError``/``OSError`` as one line; exit 2."""
    from rich.markup import escape

    from voxpick.io.volume import HDF5KeyError, list_keys

    try:
        yield
    except HDF5KeyError as err:
        example = err.keys[0] if err.keys else "NAME"
        what = (
            f"holds {len(err.keys)} datasets" if err.key is None else f"has no dataset {err.key!r}"
        )
        text = (
            f"{err.path} {what}: choose one with --key, e.g. --key {example} (datasets: "
            f"{list_keys(err.keys)})."
        )
        err_console.print(f"[bold red]error:[/] {escape(text)}", soft_wrap=True)
        raise typer.Exit(code=2) from err
    except (ValueError, TypeError, OSError, KeyError) as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)
        raise typer.Exit(code=2) from err
