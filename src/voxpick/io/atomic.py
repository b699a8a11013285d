"""Atomic file writes: an output file is either complete or absent, never partial."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only on success.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination. Its parent directory is created if needed.

    Yields
    ------
    pathlib.Path
        Where the caller writes. If the ``with`` block raises, the temporary file is removed
        and ``path`` is left untouched.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the result the usual permissions (umask applied)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        _fsync(tmp)  # the data is on disk before the name points at it
        os.replace(tmp, final)
        _fsync(final.parent)  # and so is the new name
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync(path: Path) -> None:
    """Flush a file's or a directory's contents to disk (best effort where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without fsync on directories
        pass
    finally:
        os.close(fd)


def stale_temporaries(directory: Path, name: str) -> list[Path]:
    """Temporary files :func:`atomic_path` left beside ``directory / name`` (a killed write).

    Parameters
    ----------
    directory : pathlib.Path
        Where the final file lives.
    name : str
        The final file's name.

    Returns
    -------
    list of pathlib.Path
    """
    if not directory.is_dir():
        return []
    return sorted(directory.glob(f".{name}.*.part"))
