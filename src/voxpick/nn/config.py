"""JSON round trips of the training dataclasses (tuples <-> lists; unknown keys are an error)."""

from __future__ import annotations

import dataclasses
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
