"""A report as plain data (sections of paragraphs, tables, figures), rendered by report.markdown and report.html.

Building the content once and rendering it twice keeps report.md and report.html saying the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Paragraph:
    text: str
    callout: bool = False  # the summary: shown boxed in HTML, bold in Markdown


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]
    align: str = ""  # one of "l"/"r" per column ("" → first column left, others right)
    caption: str = ""

    def alignment(self) -> str:
        return self.align or "l" + "r" * (len(self.columns) - 1)


@dataclass(frozen=True)
class Figure:
    path: Path  # a PNG file
    caption: str


@dataclass(frozen=True)
class KeyValues:
    items: list[tuple[str, str]]


Block = Paragraph | Code | Table | Figure | KeyValues


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section] = field(default_factory=list)
