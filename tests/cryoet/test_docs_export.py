"""The Python example of docs/cryoet.md's "Exporting picks" section runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("starfile")

DOC = Path(__file__).resolve().parents[2] / "docs" / "cryoet.md"
SECTION = "## Exporting picks for subtomogram averaging"


def test_export_example_runs(tmp_path, monkeypatch) -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```", section, re.DOTALL | re.MULTILINE)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], f"{DOC.name}, export example", "exec"), {"__name__": "__doc__"})
    lines = (tmp_path / "picks.txt").read_text().splitlines()
    assert len(lines) > 0 and all(len(line.split()) == 5 for line in lines)
    assert (tmp_path / "picks.csv").read_text().startswith("id,experiment,particle_type,x,y,z,")
