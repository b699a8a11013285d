"""Write benchmark tables into docs/benchmarks.md, one section per benchmark."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

from bench.common.paths import DOCS

if TYPE_CHECKING:
    import pandas as pd

DOC = DOCS / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Every table here is written by a module under `bench/benchmarks/` (one section each; see\n"
    "bench/README.md); the command that reproduces it is given with it. Times are medians of\n"
    "repeated runs on the stated machine.\n"
)


def update_section(title: str, body: str, *, command: str) -> None:
    """Replace (or append) the section ``## title`` of docs/benchmarks.md."""
    text = DOC.read_text() if DOC.exists() else HEADER
    block = f"## {title}\n\nReproduce: `{command}` ({date.today().isoformat()})\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: block + "\n", text)
    else:
        text = text.rstrip() + "\n\n" + block
    tmp = DOC.with_suffix(".md.part")
    tmp.write_text(text.rstrip() + "\n")
    tmp.replace(DOC)


def markdown_table(df: pd.DataFrame) -> str:
    """A pipe table of ``df`` (floats with 3 decimals), without the tabulate dependency."""
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    lines = [head, "|" + "---|" * len(df.columns)]
    for row in df.itertuples(index=False):
        cells = (f"{v:.3f}" if isinstance(v, float) else str(v) for v in row)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
