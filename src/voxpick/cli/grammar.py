"""The one grammar of the ``voxpick`` commands: Z,Y,X triples, lengths with units, options.

Every command parses its numbers here, so that ``--diameter 12.8,11.3,11.3`` means the same
everywhere:

- a number or a ``Z,Y,X`` triple (:func:`parse_triple`): diameters, voxel sizes, separations,
  chunks, shapes, points;
- a length may end in a unit (:func:`parse_length`): ``1.2um``, ``150A``, ``12,10,10px``;
  without one it is in the unit of the voxel size;
- the voxel size is the file's calibration unless ``--voxel-size`` is given
  (:func:`resolve_scale`), and what was used is printed;
- suggested commands are printed whole on one line (:func:`print_command`).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console

from voxpick.io.calibration import (
    Calibration,
    convert_length,
    disagrees,
    format_triple,
    normalize_unit,
)

#: Units that mean "voxels" in a length.
VOXEL_UNITS = ("px", "voxel", "voxels", "vx", "pixel", "pixels")

#: The default detection method of every command (the library's: :func:`voxpick.locate`).
DEFAULT_METHOD = "auto"

DiameterOption = Annotated[
    str,
    typer.Option(
        help="Particle diameter: one number or Z,Y,X, in the unit of the voxel size (the "
        "file's calibration, or --voxel-size; voxels when neither). A unit may follow: 1.2um, "
        "150A, 12,10,10px (voxels)."
    ),
]
VoxelSizeOption = Annotated[
    str | None,
    typer.Option(
        help="Voxel size: one number or Z,Y,X, optionally with a unit (0.1um). Default: the "
        "file's calibration (ImageJ/OME-TIFF, OME-Zarr, MRC), else 1 (diameter in voxels)."
    ),
]
InvertOption = Annotated[
    bool, typer.Option("--invert", help="Particles are darker than the background.")
]
MethodOption = Annotated[
    str,
    typer.Option(
        help="Detection method: auto (the U-Net on crowded volumes, classical otherwise), "
        "classical or unet."
    ),
]
RawShapeOption = Annotated[
    str | None, typer.Option(help="Z,Y,X size of a headerless .raw uint8 volume.")
]
KeyOption = Annotated[
    str | None,
    typer.Option(help="HDF5 input: the dataset to read (needed when the file holds several)."),
]

_LENGTH = re.compile(r"(?P<numbers>.*?)\s*(?P<unit>[^\W\d_]+)?", re.UNICODE)


def parse_triple(text: str, *, name: str, integer: bool = False) -> Any:
    """Parse one number or a ``Z,Y,X`` triple: ``"10"`` -> 10.0, ``"15,11,11"`` -> a tuple.

    Parameters
    ----------
    text : str
        One number, or three separated by commas.
    name : str
        Option name for error messages, e.g. ``"--diameter"``.
    integer : bool
        Whole numbers only (chunks, shapes).

    Returns
    -------
    float, int or tuple of 3
        Positive values.

    Raises
    ------
    ValueError
        Not numbers, not one or three of them, or not positive.
    """
    kind = "whole numbers" if integer else "numbers"
    example = "256 or 128,256,256" if integer else "10 or 15,11,11"
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [int(p) if integer else float(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"{name} {text!r} is not {kind}: expected one number or Z,Y,X, e.g. {example}."
        ) from None
    if len(values) not in (1, 3):
        raise ValueError(
            f"{name} {text!r} has {len(values)} values: expected one number or three (Z,Y,X), e.g. "
            f"{example}."
        )
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{name} {text!r} must be positive, e.g. {example}.")
    if len(values) == 1:
        return values[0]
    return (values[0], values[1], values[2])


@dataclass(frozen=True)
class Length:
    """A length typed on the command line: value(s) and unit.

    Attributes
    ----------
    value : float or tuple of 3 float
    unit : str or None
        ``"px"`` for voxels, a key of :data:`voxpick.io.calibration.LENGTH_UNITS`, or ``None``
        (the unit of the voxel size).
    text : str
        As typed.
    """

    value: Any
    unit: str | None
    text: str


def parse_length(text: str, *, name: str) -> Length:
    """Parse a length: one number or Z,Y,X, optionally followed by a unit.

    Parameters
    ----------
    text : str
        E.g. ``"12"``, ``"12.8,11.3,11.3"``, ``"1.2um"``, ``"1.2 um"``, ``"150A"``,
        ``"12,10,10px"`` (voxels).
    name : str
        Option name for error messages.

    Returns
    -------
    Length

    Raises
    ------
    ValueError
        Bad numbers or an unknown unit.
    """
    match = _LENGTH.fullmatch(str(text).strip())
    numbers, unit_text = (match["numbers"], match["unit"]) if match else (str(text), None)
    unit: str | None = None
    if not numbers.strip():
        raise ValueError(
            f"{name} {text!r} is not a number: expected one number or Z,Y,X, optionally with a "
            "unit, e.g. 10, 15,11,11 or 1.2um."
        )
    if unit_text is not None:
        if unit_text.lower() in VOXEL_UNITS:
            unit = "px"
        else:
            unit = normalize_unit(unit_text)
            if unit is None:
                raise ValueError(
                    f"{name} {text!r} has an unknown unit {unit_text!r}: expected um, nm, A, mm "
                    "or px (voxels), e.g. 1.2um."
                )
    return Length(parse_triple(numbers, name=name), unit, str(text))


def _times(a: Any, b: Any) -> Any:
    """Multiply per axis; a scalar when both are."""
    if np.ndim(a) == 0 and np.ndim(b) == 0:
        return float(a) * float(b)
    z, y, x = (float(v) for v in np.broadcast_to(np.asarray(a, float) * np.asarray(b, float), 3))
    return (z, y, x)


def _convert(value: Any, unit: str | None, to: str | None) -> Any:
    if np.ndim(value) == 0:
        return convert_length(float(value), unit, to)
    z, y, x = (convert_length(float(v), unit, to) for v in value)
    return (z, y, x)


@dataclass
class Scale:
    """What a command measures lengths with, decided by :func:`resolve_scale`.

    Attributes
    ----------
    voxel_size : float or tuple of 3 float
        Passed to the library.
    unit : str or None
        Unit of ``voxel_size`` and of every length below (``None``: voxels, or unknown).
    diameter : float or tuple of 3 float
        In ``unit``.
    calibration : Calibration or None
        The file's.
    explicit : bool
        ``--voxel-size`` was given.
    notes, warnings : list of str
        Lines to print.
    """

    voxel_size: Any
    unit: str | None
    diameter: Any
    calibration: Calibration | None
    explicit: bool
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def length(self, given: Length, *, name: str) -> Any:
        """Express another length (e.g. ``--separation``) in the unit of the voxel size.

        Parameters
        ----------
        given : Length
        name : str
            Option name for error messages.

        Returns
        -------
        float or tuple of 3 float
        """
        if given.unit is None:
            return given.value
        if given.unit == "px":
            return _times(given.value, self.voxel_size)
        if self.unit is None:
            if self.explicit or self.calibration is not None:
                raise ValueError(
                    f"{name} {given.text!r} has a unit but the voxel size has none: give "
                    f"--voxel-size with its unit, e.g. --voxel-size 0.1{given.unit}, or write "
                    f"{name} in voxels (px)."
                )
            raise ValueError(
                f"{name} {given.text!r} is in {given.unit} but the file records no voxel size: "
                f"pass --voxel-size Z,Y,X (in {given.unit}), e.g. --voxel-size 0.3,0.1,0.1, or "
                f"write {name} in voxels (e.g. 12px)."
            )
        return _convert(given.value, given.unit, self.unit)

    def describe_diameter(self) -> str:
        """Say how the diameter was read: ``"diameter 1.2 um = 10.6 x 12 x 12 voxels"``."""
        d_px = np.asarray(self.diameter, float) / np.asarray(self.voxel_size, float)
        per_axis = np.ndim(d_px) and not np.allclose(d_px, np.ravel(d_px)[0], rtol=1e-9, atol=0)
        in_voxels = format_triple(d_px, "voxels (z, y, x)" if per_axis else "voxels")
        if self.unit is None and np.allclose(np.asarray(self.voxel_size, float), 1.0):
            return f"diameter {in_voxels}"
        return f"diameter {format_triple(self.diameter, self.unit)} = {in_voxels}"


def resolve_scale(
    *,
    diameter: str,
    voxel_size: str | None,
    calibration: Calibration | None,
    origin: str = "--voxel-size",
) -> Scale:
    """Decide the voxel size and the diameter of a command, and what to print about them.

    Parameters
    ----------
    diameter : str
        ``--diameter`` as typed.
    voxel_size : str or None
        ``--voxel-size`` as typed, or ``None``.
    calibration : Calibration or None
        The input file's (:func:`voxpick.io.read_calibration`).
    origin : str
        Where ``voxel_size`` comes from, for the printed line.

    Returns
    -------
    Scale

    Raises
    ------
    ValueError
        A bad number or unit, or a physical diameter without any voxel size.
    """
    told = parse_length(diameter, name="--diameter")
    notes: list[str] = []
    warns: list[str] = []
    if voxel_size is not None:
        given = parse_length(voxel_size, name="--voxel-size")
        if given.unit == "px":
            raise ValueError(
                f"--voxel-size {voxel_size!r} is in voxels: give the size of a voxel in a "
                "length unit (e.g. 0.1um), or leave --voxel-size out."
            )
        unit = given.unit or (told.unit if told.unit != "px" else None)
        if unit is None and calibration is not None:
            unit = calibration.unit  # a bare number: the file's unit
        vs = given.value
        notes.append(f"voxel size {format_triple(vs, unit)} ({origin})")
        if calibration is not None and disagrees(vs, calibration, unit=unit):
            warns.append(
                f"{origin} {voxel_size} differs from the file's {calibration.describe()}; "
                "using --voxel-size. Leave it out to use the file's, or give the diameter in "
                "voxels (e.g. --diameter 12px)."
            )
        scale = Scale(vs, unit, told.value, calibration, True, notes, warns)
    elif calibration is not None:
        notes.append(f"voxel size {calibration.describe()}")
        scale = Scale(calibration.voxel_size, calibration.unit, told.value, calibration, False)
    else:
        notes.append("voxel size 1 (the file records none)")
        scale = Scale(1.0, None, told.value, None, False)
    scale.notes, scale.warnings = notes, warns
    scale.diameter = scale.length(told, name="--diameter")
    return scale


def command(*words: Any) -> str:
    """Join a command line, quoting what the shell would split.

    Parameters
    ----------
    *words
        The words, e.g. ``"voxpick", "locate", path, "--diameter", "8"``; ``None`` words are
        left out.

    Returns
    -------
    str
    """
    return shlex.join(str(w) for w in words if w is not None)


def print_command(console: Console, line: str) -> None:
    """Print a command on its own line, never wrapped, so that it can be copied and pasted."""
    console.print(line, soft_wrap=True, markup=False, highlight=False)


def triple_text(value: Any, *, digits: int = 6) -> str:
    """Write a number or a (z, y, x) triple as the command line reads it: ``12.8,11.3,11.3``.

    Parameters
    ----------
    value : float or sequence of 3 float
    digits : int
        Significant digits.

    Returns
    -------
    str
    """
    if np.ndim(value) == 0:
        return f"{float(value):.{digits}g}"
    return ",".join(f"{float(v):.{digits}g}" for v in value)


def check_key(path: Path, key: str | None) -> None:
    """Refuse ``--key`` for inputs that are not HDF5.

    Parameters
    ----------
    path : pathlib.Path
        The input.
    key : str or None
        ``--key``.

    Raises
    ------
    ValueError
        ``key`` given for a non-HDF5 input.
    """
    if key is not None and path.suffix.lower() not in (".h5", ".hdf5"):
        raise ValueError(
            f"--key {key!r} names a dataset of an HDF5 file, but {path} is not one (.h5/.hdf5): "
            "leave --key out."
        )
