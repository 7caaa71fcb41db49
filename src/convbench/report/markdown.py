"""Render a report :class:`~convbench.report.document.Document` as Markdown (figures linked relative to it)."""

from __future__ import annotations

import os
from pathlib import Path

from convbench.report.document import Code, Document, Figure, KeyValues, Paragraph, Table


def render_markdown(doc: Document, base: str | os.PathLike[str]) -> str:
    """Markdown text of ``doc``; figure paths are written relative to the folder ``base``."""
    lines = [f"# {doc.title}", "", doc.subtitle, ""]
    for section in doc.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += [*_block(block, Path(base)), ""]
    return "\n".join(lines).rstrip() + "\n"


def _block(block: object, base: Path) -> list[str]:
    if isinstance(block, Paragraph):
        return [f"**{block.text}**" if block.callout else block.text]
    if isinstance(block, Code):
        return ["```", block.text, "```"]
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return [f"![{block.caption}]({Path(os.path.relpath(block.path, base)).as_posix()})", "", f"*{block.caption}*"]
    if isinstance(block, KeyValues):
        return [f"- **{key}**: {value}" for key, value in block.items]
    raise TypeError(f"unknown report block {type(block).__name__}")


def _table(table: Table) -> list[str]:
    def cells(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    rule = "|" + "|".join("---:" if a == "r" else "---" for a in table.alignment()) + "|"
    return ([f"*{table.caption}*", ""] if table.caption else []) + [cells(table.columns), rule,
                                                                   *[cells(r) for r in table.rows]]
