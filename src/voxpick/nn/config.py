"""JSON round trips of the training dataclasses (tuples <-> lists; unknown keys are an error)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def config_to_dict(obj: Any) -> dict[str, Any]:
    """Fields of a flat dataclass as a JSON-serialisable dictionary (tuples become lists).

    Parameters
    ----------
    obj : dataclass instance
        A dataclass whose fields are numbers, strings, booleans or tuples of them.

    Returns
    -------
    dict
    """
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(obj).items()}


def check_known_keys(cls: type, data: dict[str, Any]) -> None:
    """Raise a clear error when ``data`` has keys that are not fields of ``cls``.

    Parameters
    ----------
    cls : dataclass type
    data : dict
        Settings read from JSON.
    """
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(
            f"{cls.__name__} settings have unknown keys {sorted(unknown)}: expected some of "
            f"{sorted(known)}. Check the spelling, or remove them."
        )


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a flat dataclass from (a subset of) :func:`config_to_dict` output.

    Parameters
    ----------
    cls : dataclass type
    data : dict
        Field values; missing fields keep their defaults, lists become tuples.

    Returns
    -------
    instance of ``cls``
    """
    check_known_keys(cls, data)
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def read_config_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a training configuration file: a JSON object, or a one-line error naming the file.

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file (e.g. a run's ``config.json``).

    Returns
    -------
    dict

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        It is not a JSON object (damaged, truncated, or another kind of file).
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(
            f"{p} is not a valid training configuration ({type(err).__name__}: {err}): expected "
            "the JSON object a training run writes. Repair it, or give the run's settings "
            "in another file (voxpick train --config FILE)."
        ) from None
    if not isinstance(data, dict):
        raise ValueError(
            f"{p} is not a valid training configuration: expected a JSON object, found "
            f"{type(data).__name__}."
        )
    return data
