"""The input volume of a command: its calibration, its scale, and the hints printed after a run."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from voxpick.cli.grammar import (
    DEFAULT_METHOD,
    Scale,
    check_key,
    command,
    parse_triple,
    print_command,
    resolve_scale,
    triple_text,
)


@dataclass
class Input:
    """A volume file named on the command line, with the options that say how to read it.

    Attributes
    ----------
    path : pathlib.Path
    key : str or None
        ``--key`` (HDF5 dataset).
    shape : tuple of 3 int or None
        ``--shape`` (``.raw`` files).
    scale : Scale
        Voxel size and diameter (:func:`voxpick.cli.grammar.resolve_scale`).
    """

    path: Path
    key: str | None
    shape: tuple[int, int, int] | None
    scale: Scale

    def read(self) -> Any:
        """Read the whole volume into memory."""
        from voxpick.io import read_volume

        return read_volume(self.path, key=self.key, shape=self.shape)

    def words(self) -> list[str]:
        """Return the options that read this input again, for suggested commands."""
        out: list[str] = [str(self.path)]
        if self.key is not None:
            out += ["--key", self.key]
        if self.shape is not None:
            out += ["--shape", triple_text(self.shape)]
        return out


def open_input(
    path: Path,
    *,
    diameter: str,
    voxel_size: str | None,
    key: str | None = None,
    shape: str | None = None,
    console: Console,
    origin: str = "--voxel-size",
) -> Input:
    """Check the options of an input volume, read its calibration and print the scale used.

    Parameters
    ----------
    path : pathlib.Path
        The input.
    diameter, voxel_size : str or None
        ``--diameter`` and ``--voxel-size`` as typed.
    key : str, optional
        ``--key``.
    shape : str, optional
        ``--shape``.
    console : rich.console.Console
        Where the scale and any warning are printed (stderr).
    origin : str
        Where ``voxel_size`` comes from, for the printed line.

    Returns
    -------
    Input
    """
    from voxpick.io import read_calibration

    check_key(path, key)
    dims = None
    if shape is not None:
        z, y, x = parse_triple(shape, name="--shape", integer=True)
        dims = (int(z), int(y), int(x))
    calibration = read_calibration(path, key=key) if path.exists() else None
    scale = resolve_scale(
        diameter=diameter, voxel_size=voxel_size, calibration=calibration, origin=origin
    )
    console.print(escape("; ".join([*scale.notes, scale.describe_diameter()])), soft_wrap=True)
    for text in scale.warnings:
        console.print(f"[yellow]warning:[/] {escape(text)}", soft_wrap=True)
    return Input(path, key, dims, scale)


@contextlib.contextmanager
def quiet_calibration() -> Iterator[None]:
    """Silence the library's calibration warning: the command has printed its own."""
    from voxpick.io.calibration import CalibrationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        yield


def option_words(
    source: Input, *, diameter: str, method: str, invert: bool, voxel_size: str | None
) -> list[str]:
    """Return the input and the options a suggested command repeats."""
    words = [*source.words(), "--diameter", diameter]
    if voxel_size is not None:
        words += ["--voxel-size", voxel_size]
    if method != DEFAULT_METHOD:
        words += ["--method", method]
    if invert:
        words.append("--invert")
    return words


def polarity_hint(
    console: Console,
    volume: Any,
    source: Input,
    *,
    invert: bool,
    rerun: list[str],
) -> None:
    """Suggest ``--invert`` when the particles look dark (or dropping it when they look bright).

    Parameters
    ----------
    console : rich.console.Console
    volume : object
        The volume as given to the library (a path or an array).
    source : Input
    invert : bool
        ``--invert`` was given.
    rerun : list of str
        The command that was run, as words, without ``--invert``.
    """
    from voxpick.detect.polarity import particle_polarity

    with quiet_calibration():
        found = particle_polarity(
            volume, diameter=source.scale.diameter, voxel_size=source.scale.voxel_size
        )
    if found.verdict == "dark" and not invert:
        text = f"{found.finding} Rerun with --invert:"
    elif found.verdict == "bright" and invert:
        text = f"{found.finding} --invert may be wrong; without it:"
    else:
        return
    console.print(f"[yellow]note:[/] {escape(text)}", soft_wrap=True)
    print_command(console, command(*rerun, *(["--invert"] if not invert else [])))
