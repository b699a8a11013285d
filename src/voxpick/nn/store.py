"""The model store: trained weights (``NAME.pt``) beside their JSON description (``NAME.json``).

One store for every network voxpick trains: the colloid U-Net (:func:`voxpick.ml.load_model`)
and the cryo-ET picker (:func:`voxpick.cryoet.load_picker`) are thin layers over
:func:`save_stored` and :func:`load_stored`. A model is given by the name of one shipped inside
the package (:data:`WEIGHTS_DIR`) or by a path ``DIR/NAME``; nothing is ever downloaded.

Safety: every file is read with ``torch.load(..., weights_only=True)``, so a model or
checkpoint cannot run code, and a corrupt, foreign or crafted file is a one-line
``ValueError`` that names it; the CRC-32 of every record is checked first, so a damaged file
is refused rather than loaded with altered tensors. Weights are stored as float16 and read
back as float32. Both files are written atomically (complete or absent), the weights first;
the description records the weights' SHA-256 (``weights_sha256``), so a pair that was not
written together (a run killed between the two writes) is refused when loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from voxpick.io.atomic import atomic_path
from voxpick.nn.model import pick_device
from voxpick.nn.runtime import remember_weights

#: Folder of the models shipped inside the package (``NAME.pt``, ``NAME.json``, ``NAME.md``).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

T = TypeVar("T")

#: The fix a broken model file's error suggests.
_REWRITE = "Save or train the model again, or use another one."


@dataclass(frozen=True)
class ModelKind:
    """One kind of stored model: its format tag and how names resolve.

    Attributes
    ----------
    format : str
        The ``format`` tag every description of this kind carries.
    default : str
        Name of the shipped model used when none is given.
    shipped_glob : str
        Which shipped weight files are of this kind (listed in errors).
    written_by : str
        What writes such models, for error messages.
    hint : str
        Appended to a wrong-format error, e.g. where models of other kinds load.
    """

    format: str
    default: str
    shipped_glob: str
    written_by: str
    hint: str = ""


def atomic_torch_save(obj: Any, path: Path) -> None:
    """Write ``obj`` with :func:`torch.save` to ``path`` atomically (temporary file + rename).

    Raises
    ------
    OSError
        The file could not be written (e.g. the disk is full); ``path`` is left as it was.
    """
    with atomic_path(path) as tmp:
        try:
            with tmp.open("wb") as fh:  # a file object: records named "archive/..." whatever
                torch.save(obj, fh)  # the temporary name, so equal objects give equal bytes
        except RuntimeError as err:  # torch's writer reports a failed write this way
            raise OSError(
                f"{path}: could not be written ({_one_line(err)}): is the disk full? Free "
                "some space and run again."
            ) from err


def atomic_write_json(data: dict[str, Any], path: Path) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


#: Lines of torch's load errors that advise, rather than say what is wrong.
_ADVICE = ("Weights only load failed", "Please file an issue", "Check the documentation")


def _one_line(err: BaseException, limit: int = 120) -> str:
    """Return a one-line reason for ``err``: its type and first informative sentence."""
    lines = [ln.replace("WeightsUnpickler error:", "").strip() for ln in str(err).splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(_ADVICE)]
    reason = lines[0].split(". ")[0].rstrip(".") if lines else ""
    text = f"{type(err).__name__}: {reason}" if reason else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _damaged_member(path: Path) -> str | None:
    """Return the first record of a torch zip file whose CRC-32 does not match, if any.

    :func:`torch.load` does not check the checksums that :func:`torch.save` writes, so a
    flipped bit in a tensor would load silently. Files that are not zip archives (corrupt, or
    torch's legacy format) are left to :func:`torch.load` to judge.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip()
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError):
        return None
    except zlib.error:  # pragma: no cover - torch stores records uncompressed
        return str(path.name)


def safe_torch_load(path: Path, *, what: str, fix: str) -> Any:
    """Read a file written by :func:`torch.save` without running any code it may contain.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    what : str
        What the file should be, e.g. ``"model weights"``, for the error message.
    fix : str
        What to do instead, for the error message.

    Returns
    -------
    object
        Tensors and plain Python types only (``weights_only=True``), on the CPU.

    Raises
    ------
    ValueError
        When the file is corrupt, not a torch file, or holds anything but tensors and plain
        types (a crafted pickle is refused before any of it runs).
    """
    damaged = _damaged_member(path)
    if damaged is not None:
        raise ValueError(
            f"{path} is not valid {what} (its record {damaged!r} fails its CRC-32 checksum): the "
            f"file was damaged after it was written (disk, copy or transfer). {fix}"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise  # unreadable: the message already names the file
    except Exception as err:  # any parse failure of an untrusted file (a truncated one: OSError)
        raise ValueError(
            f"{path} is not valid {what} ({_one_line(err)}): expected a file written by voxpick; "
            f"it is corrupt, of another program, or asks to run code (refused). {fix}"
        ) from err


def write_weights(
    net: nn.Module, description: dict[str, Any], path: str | Path
) -> tuple[Path, Path]:
    """Write ``net``'s weights (float16) to ``path.pt`` and ``description`` to ``path.json``.

    Parameters
    ----------
    net : torch.nn.Module
        The network.
    description : dict
        JSON-serialisable description.
    path : str or pathlib.Path
        Destination without suffix (a ``.pt``/``.json`` suffix is replaced).

    Returns
    -------
    tuple of pathlib.Path
        The weights file and the JSON file, each written atomically.
    """
    base = Path(path)
    if base.suffix in (".pt", ".json"):
        base = base.with_suffix("")
    state = {
        k: (v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.detach().cpu())
        for k, v in net.state_dict().items()
    }
    pt, js = base.with_suffix(".pt"), base.with_suffix(".json")
    atomic_torch_save(state, pt)
    atomic_write_json({**description, WEIGHTS_DIGEST: file_sha256(pt)}, js)  # last: the commit
    return pt, js


#: Key of a model description that holds the SHA-256 of its weights file.
WEIGHTS_DIGEST = "weights_sha256"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_pair(pt: Path, js: Path, info: dict[str, Any]) -> None:
    """Refuse weights that are not the ones their description was written with.

    Descriptions without :data:`WEIGHTS_DIGEST` (older files) are not checked.

    Raises
    ------
    ValueError
        ``pt`` does not hash to the description's ``weights_sha256``.
    """
    expected = info.get(WEIGHTS_DIGEST)
    if expected is not None and file_sha256(pt) != expected:
        raise ValueError(
            f"{pt} is not the weights file {js.name} describes (its SHA-256 differs): the two "
            f"were not written together, e.g. a run stopped between them. {_REWRITE}"
        )


def save_stored(
    net: nn.Module, description: dict[str, Any], path: str | Path, kind: ModelKind
) -> tuple[Path, Path]:
    """Save a model of ``kind``: :func:`write_weights` with the kind's ``format`` tag added.

    Parameters
    ----------
    net : torch.nn.Module
        The network.
    description : dict
        JSON-serialisable description (a ``format`` key in it is replaced).
    path : str or pathlib.Path
        Destination without suffix.
    kind : ModelKind
        The kind of model.

    Returns
    -------
    tuple of pathlib.Path
        The weights file and the JSON file.
    """
    return write_weights(net, {**description, "format": kind.format}, path)


def resolve_weights(model: str | Path | None, kind: ModelKind) -> tuple[Path, Path]:
    """``NAME.pt`` and ``NAME.json`` of a model given by path or by the name of a shipped one.

    Parameters
    ----------
    model : str, pathlib.Path or None
        ``DIR/NAME`` (with or without ``.pt``/``.json``), a bare name (a shipped model of that
        name if there is one, else a path in the working directory), or None for
        ``kind.default``.
    kind : ModelKind
        The kind of model (default name, shipped files, error wording).

    Returns
    -------
    tuple of pathlib.Path
        The weights and the description file; both exist.
    """
    text = str(kind.default if model is None else model)
    base = Path(text)
    if base.suffix in (".pt", ".json"):
        base = base.with_suffix("")
    bare = os.sep not in text and "/" not in text
    if bare and (WEIGHTS_DIR / base.name).with_suffix(".pt").is_file():
        base = WEIGHTS_DIR / base.name  # the name of a shipped model
    pt, js = base.with_suffix(".pt"), base.with_suffix(".json")
    for f in (pt, js):
        if not f.is_file():
            shipped = sorted(p.stem for p in WEIGHTS_DIR.glob(kind.shipped_glob))
            raise FileNotFoundError(
                f"model={text!r}: {f} does not exist. Expected the name of a shipped model "
                f"({shipped}) or the path of a trained model (NAME.pt beside NAME.json, as "
                f"written by {kind.written_by})."
            )
    return pt, js


def read_description(js: Path, kind: ModelKind) -> dict[str, Any]:
    """Read a model description JSON and check its ``format`` tag.

    Parameters
    ----------
    js : pathlib.Path
        The ``NAME.json`` file.
    kind : ModelKind
        The expected kind.

    Returns
    -------
    dict
    """
    try:
        info = json.loads(js.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(
            f"{js} is not a model description ({_one_line(err)}): expected the JSON written "
            f"beside the weights by {kind.written_by}."
        ) from err
    if not isinstance(info, dict):
        raise ValueError(
            f"{js} is not a model description: expected a JSON object, found {type(info).__name__}."
        )
    if info.get("format") != kind.format:
        raise ValueError(
            f"{js} is not a {kind.format} description: expected format={kind.format!r}, found "
            f"{info.get('format')!r}{kind.hint}."
        )
    return info


def read_state(pt: Path) -> dict[str, torch.Tensor]:
    """Read weights written by :func:`write_weights`, as float32 on the CPU.

    Raises
    ------
    ValueError
        When ``pt`` is not a file of named tensors (corrupt, foreign or crafted).
    """
    state = safe_torch_load(pt, what="model weights", fix=_REWRITE)
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(
            f"{pt} holds no model weights: expected a dictionary of named tensors, as written "
            f"by voxpick. {_REWRITE}"
        )
    return {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}


def load_state(net: nn.Module, pt: Path) -> None:
    """Load the weights in ``pt`` into ``net``; a mismatch is a ``ValueError`` naming ``pt``."""
    state = read_state(pt)
    own = net.state_dict()
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    shaped = sorted(k for k in own.keys() & state.keys() if own[k].shape != state[k].shape)
    if missing or unexpected or shaped:
        example = (missing or unexpected or shaped)[0]
        raise ValueError(
            f"{pt} does not fit the architecture its description gives ({len(missing)} missing, "
            f"{len(unexpected)} unexpected and {len(shaped)} mis-shaped tensors, e.g. "
            f"{example!r}): expected NAME.pt and NAME.json written together. {_REWRITE}"
        )
    net.load_state_dict(state)


def load_stored(
    model: str | Path | None,
    kind: ModelKind,
    build: Callable[[dict[str, Any]], tuple[nn.Module, T]],
    *,
    device: str | torch.device | None,
) -> tuple[nn.Module, T, dict[str, Any], torch.device]:
    """Load a stored model of ``kind``: resolve, read the description, build, load weights.

    Parameters
    ----------
    model : str, pathlib.Path or None
        See :func:`resolve_weights`.
    kind : ModelKind
        The kind of model.
    build : callable
        ``build(description) -> (network, fields)``: an untrained network of the described
        architecture and whatever else the caller reads from the description. Its
        ``KeyError``, ``TypeError`` and ``ValueError`` become one ``ValueError`` naming the file.
    device : str, torch.device or None
        ``None`` picks CUDA when available, else the CPU.

    Returns
    -------
    net : torch.nn.Module
        In eval mode, on ``device``.
    fields : object
        What ``build`` returned beside the network.
    info : dict
        The description.
    device : torch.device
    """
    dev = pick_device(device)
    pt, js = resolve_weights(model, kind)
    info = read_description(js, kind)
    try:
        net, fields = build(info)
    except (KeyError, TypeError, ValueError) as err:
        reason = f"missing key {err}" if isinstance(err, KeyError) else _one_line(err)
        raise ValueError(
            f"{js} is an incomplete or invalid {kind.format} description ({reason}): expected "
            f"one written by {kind.written_by}."
        ) from err
    load_state(net, pt)
    check_pair(pt, js, info)  # after the weights proved readable: a clearer error for junk
    net.to(dev).eval()
    remember_weights(net, pt)  # its .onnx sibling may run it on the CPU (voxpick.nn.runtime)
    return net, fields, info, dev
