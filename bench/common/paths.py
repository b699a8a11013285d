"""Where the bench scripts read and write: the repository, docs, outputs, data, weights."""

from __future__ import annotations

from pathlib import Path

#: The repository root (``python -m bench...`` runs from here).
ROOT = Path(__file__).resolve().parents[2]
#: The docs folder; benchmark tables go to ``DOCS / "benchmarks.md"``, figures to ``DOCS / "img"``.
DOCS = ROOT / "docs"
#: Scratch outputs of the bench scripts (git-ignored).
OUT = ROOT / "bench" / "out"
#: Third-party data, read in place (absent on most machines: the scripts then skip it).
DATA = ROOT.parent / "shared" / "data"
#: Where the recipes install the shipped weights.
WEIGHTS = ROOT / "src" / "voxpick" / "nn" / "weights"
