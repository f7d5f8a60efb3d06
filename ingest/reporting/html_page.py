"""report.html: the sections as one self-contained page (inline CSS, inline SVG plots, one tiny
inline script), readable offline and from a file:// URL.

Why no external anything: the report is archived next to the run and opened years later, on
machines without network; a page that fetches nothing also leaks nothing. The script only counts
the figures whose plot rendered marks (getBBox) and writes the counts on <body>, so a headless
browser can check every plot renders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from ingest.reporting.document import OK, Block, KeyValues, Paragraph, Plot, Section, Table

SVG_NAMESPACE = ' xmlns="http://www.w3.org/2000/svg"'
"""Inline SVG in HTML needs no namespace declaration; dropping it leaves no URL on the page."""

STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0; color: #1d1d1f;
       background: #f6f7f9; line-height: 1.45; }
header, main { max-width: 1240px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 18px; }
h1 { font-size: 1.55rem; margin: 0.4em 0 0.2em; }
h2 { font-size: 1.25rem; margin: 0 0 0.6em; border-bottom: 1px solid #d9dce1; padding-bottom: 0.25em; }
section { background: #fff; border: 1px solid #e1e4e8; border-radius: 8px; padding: 16px 20px; margin: 18px 0; }
nav ol { display: flex; flex-wrap: wrap; gap: 4px 22px; list-style: none; padding: 0; margin: 0.4em 0; }
.meta { color: #555; font-size: 0.9rem; }
.status { display: inline-block; font-size: 0.75rem; padding: 1px 7px; border-radius: 9px; margin-left: 8px;
          vertical-align: middle; background: #eef1f4; color: #444; }
.status.ok { background: #e3f4ea; color: #17633a; }
.status.missing, .status.empty, .status.error { background: #fdecea; color: #8a1c12; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.6em 0 1em; }
th, td { border-bottom: 1px solid #e6e8eb; padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
th { font-weight: 600; color: #333; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { font-weight: 500; color: #555; padding-right: 18px; }
p.caption { font-size: 0.8rem; color: #555; margin: -0.6em 0 1em; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 14px; margin: 0.8em 0; }
figure { margin: 0; border: 1px solid #eceef1; border-radius: 6px; padding: 8px; background: #fff; }
figure.wide { grid-column: 1 / -1; }
figcaption { font-size: 0.8rem; color: #444; margin-top: 4px; }
.scroll { overflow-x: auto; }
"""

SCRIPT = """
window.addEventListener('load', function () {
  var figures = document.querySelectorAll('figure');
  var rendered = 0;
  for (var i = 0; i < figures.length; i++) {
    var svg = figures[i].querySelector('svg');
    var marks = svg ? svg.querySelector('g.marks') : null;
    var ok = false;
    if (marks) {
      try { var box = marks.getBBox(); ok = box.width > 0 || box.height > 0; } catch (e) { ok = false; }
    }
    figures[i].setAttribute('data-rendered', ok ? 'true' : 'false');
    if (ok) { rendered++; }
  }
  document.body.setAttribute('data-figures', String(figures.length));
  document.body.setAttribute('data-figures-rendered', String(rendered));
});
"""


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{escape(block.text)}</p>"
    if isinstance(block, KeyValues):
        rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in block.rows)
        return f'<table class="kv">{rows}</table>'
    if isinstance(block, Table):
        numeric = list(block.numeric) + [False] * (len(block.columns) - len(block.numeric))
        head = "".join(f'<th{" class=n" if n else ""}>{escape(c)}</th>' for c, n in zip(block.columns, numeric))
        body = "".join("<tr>" + "".join(f'<td{" class=n" if n else ""}>{escape(str(cell))}</td>'
                                        for cell, n in zip(row, numeric)) + "</tr>" for row in block.rows)
        caption = f'<p class="caption">{escape(block.caption)}</p>' if block.caption else ""
        return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{caption}</div>'
    return _figure(block)


def _figure(plot: Plot) -> str:
    svg = plot.svg.replace(SVG_NAMESPACE, "", 1)
    wide = ' class="wide"' if plot.wide else ""
    return f'<figure{wide} data-plot="{escape(plot.key)}">{svg}<figcaption>{escape(plot.caption)}</figcaption></figure>'


def _section(section: Section) -> str:
    parts: list[str] = []
    plots: list[str] = []
    for block in section.blocks:
        if isinstance(block, Plot):
            plots.append(_figure(block))
            continue
        if plots:
            parts.append('<div class="plots">' + "".join(plots) + "</div>")
            plots = []
        parts.append(_block(block))
    if plots:
        parts.append('<div class="plots">' + "".join(plots) + "</div>")
    status = "" if section.status == OK else f'<span class="status {escape(section.status)}">{escape(section.status)}</span>'
    return (f'<section id="section-{escape(section.key)}" data-section="{escape(section.key)}" '
            f'data-status="{escape(section.status)}"><h2>{escape(section.title)}{status}</h2>{"".join(parts)}</section>')


def render_html(sections: Sequence[Section], run_id: str, generated_at: datetime, warehouse_name: str) -> str:
    """The whole page."""
    figures = sum(len(s.plots) for s in sections)
    toc = "".join(f'<li><a href="#section-{escape(s.key)}">{escape(s.title)}</a></li>' for s in sections)
    title = f"Run report {run_id}"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f'<body data-figures-expected="{figures}"><header><h1>{escape(title)}</h1>'
        f'<p class="meta">Generated {escape(generated_at.strftime("%Y-%m-%d %H:%M:%S"))} UTC from {escape(warehouse_name)} '
        f"(read-only). Every number below is read from the warehouse; times are UTC; returns are after costs unless "
        f"a caption says otherwise. {figures} figures.</p><nav><ol>{toc}</ol></nav></header>"
        f"<main>{''.join(_section(s) for s in sections)}</main>"
        f"<script>{SCRIPT}</script></body></html>\n")
