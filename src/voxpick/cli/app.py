"""The ``voxpick`` command line: thin wrappers over library functions.

Each sub-command lives in its own module of this package and exposes ``register(app)``; the
modules listed in :data:`COMMAND_MODULES` are registered in order.
"""

from __future__ import annotations

import importlib

import typer

COMMAND_MODULES: tuple[str, ...] = (
    "simulate", "demo", "evaluate", "locate", "refine", "diameter", "train", "pick", "report",
    "track",
)  # fmt: skip

app = typer.Typer(
    name="voxpick",
    help="Find every particle in noisy 3D microscopy volumes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"voxpick.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"voxpick.cli.{name}":
                continue  # command not built yet
            raise
        module.register(app)


_register_all()


def main() -> None:
    """Entry point of the ``voxpick`` console script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
