"""Render a report :class:`~convbench.report.document.Document` as ONE self-contained HTML file.

Plots are embedded as base64 PNG data URIs and the style sheet is inline, so the file can be mailed or
attached to a ticket and opens anywhere, offline, with no other file beside it.
"""

from __future__ import annotations

import base64
from html import escape

from convbench.report.document import Code, Document, Figure, KeyValues, Paragraph, Table

_STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; margin: 0;
       background: #f6f7f9; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 0; }
.subtitle { color: #5a6272; margin: 4px 0 24px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #e3e6eb; }
.callout { background: #eef6ee; border-left: 5px solid #2e7d32; padding: 12px 16px; font-size: 16px; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e6eb; }
th { background: #f0f2f5; text-align: left; font-weight: 600; }
td.r, th.r { text-align: right; }
td.r { white-space: nowrap; }
tr:hover td { background: #fafbfc; }
.caption { color: #5a6272; font-size: 13px; margin: 2px 0 8px; }
figure { margin: 16px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e6eb; }
figcaption { color: #5a6272; font-size: 13px; }
pre { background: #f0f2f5; padding: 10px 12px; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 13px; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; font-size: 14px; }
dt { font-weight: 600; }
dd { margin: 0; }
.scroll { overflow-x: auto; }
"""


def render_html(doc: Document) -> str:
    """The HTML page of ``doc`` with every figure inlined."""
    body = [f"<h1>{escape(doc.title)}</h1>", f'<p class="subtitle">{escape(doc.subtitle)}</p>']
    for section in doc.sections:
        body.append(f"<section><h2>{escape(section.title)}</h2>")
        body += [_block(block) for block in section.blocks]
        body.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{escape(doc.title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(body) + "\n</main>\n</body>\n</html>\n")


def _block(block: object) -> str:
    if isinstance(block, Paragraph):
        return f'<p class="callout">{escape(block.text)}</p>' if block.callout else f"<p>{escape(block.text)}</p>"
    if isinstance(block, Code):
        return f"<pre>{escape(block.text)}</pre>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        data = base64.b64encode(block.path.read_bytes()).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{escape(block.caption)}">'
                f"<figcaption>{escape(block.caption)}</figcaption></figure>")
    if isinstance(block, KeyValues):
        return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in block.items) + "</dl>"
    raise TypeError(f"unknown report block {type(block).__name__}")


def _table(table: Table) -> str:
    align = table.alignment()
    head = "".join(f'<th class="{a}">{escape(c)}</th>' for c, a in zip(table.columns, align, strict=True))
    rows = "".join("<tr>" + "".join(f'<td class="{a}">{escape(v)}</td>' for v, a in zip(row, align, strict=True))
                   + "</tr>" for row in table.rows)
    caption = f'<p class="caption">{escape(table.caption)}</p>' if table.caption else ""
    return f'{caption}<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'
