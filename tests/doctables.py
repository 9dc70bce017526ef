"""Reading the tables of a Markdown document, for the tests that keep docs/reliability.md honest."""

from __future__ import annotations

from pathlib import Path


def section(doc: Path, heading: str) -> str:
    """The text under ``## heading``, up to the next ``## `` heading."""
    text = doc.read_text(encoding="utf-8")
    marker = f"## {heading}"
    assert marker in text, f"{doc} has no '{marker}' section"
    return text.split(marker, 1)[1].split("\n## ", 1)[0]


def table_rows(doc: Path, heading: str) -> list[list[str]]:
    """The cells of each body row of the table(s) under ``## heading`` (header and separator left out)."""
    rows = []
    for line in section(doc, heading).splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] == "#" or set(cells[0]) <= set("-: "):
            continue  # the header and the separator
        rows.append(cells)
    return rows
