"""The ```python blocks of README.md and some docs (``FILES``) run as written.

The blocks of one file run in order in one namespace (a later block may use a name an earlier
one defined), in a temporary working directory, so that the files they write go there. A block
that imports ``voxpick.cryoet`` or ``copick`` is skipped when ``copick`` (the ``cryoet`` extra)
is not installed.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = ["README.md", "docs/architecture.md", "docs/tracking.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
NEEDS_CRYOET = re.compile(r"\b(voxpick\.cryoet|copick)\b")


def python_blocks(path: Path) -> list[str]:
    """The code of every ```python block of a Markdown file, in order."""
    return BLOCK.findall(path.read_text(encoding="utf-8"))


def test_the_files_have_python_blocks():
    for name in FILES:
        assert python_blocks(ROOT / name), f"{name} has no ```python block"


@pytest.mark.parametrize("name", FILES)
def test_python_blocks_run(name, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    have_copick = importlib.util.find_spec("copick") is not None
    namespace: dict[str, object] = {"__name__": "__readme__"}
    skipped = []
    for i, code in enumerate(python_blocks(ROOT / name), start=1):
        if NEEDS_CRYOET.search(code) and not have_copick:
            skipped.append(i)
            continue
        try:
            exec(compile(code, f"{name}, python block {i}", "exec"), namespace)
        except Exception as err:
            pytest.fail(f"{name}, python block {i} raised {type(err).__name__}: {err}\n{code}")
    if skipped:
        pytest.skip(f"{name}: blocks {skipped} need the cryoet extra (copick is not installed)")
