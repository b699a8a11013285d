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
    try:
        yield
    except (ValueError, TypeError, OSError, KeyError) as err:
        err_console.print(f"[bold red]error:[/] {err}")
        raise typer.Exit(code=2) from err
