"""The report's HTML: one self-contained page with inline CSS and no scripts.

Every value that comes from the user (column names, the target, parameters, file names) goes
through :func:`escape`; images are ``data:`` URIs, so the page loads nothing from anywhere.

Example:
    >>> page = render_page("Report", [], [Section("notes", "Notes", paragraph("<b>"))])
    >>> "&lt;b&gt;" in page and "<script" not in page
    True
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1.5rem; color: #222; background: #fff; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f4f4f4; }
.best { font-weight: bold; background: #eef5ee; }
figure { display: inline-block; margin: .5rem 1rem .5rem 0; vertical-align: top; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
nav a { margin-right: .8rem; }
"""


@dataclass(frozen=True)
class Section:
    """One ``<section>`` of the page; ``body`` is HTML already escaped by the helpers here."""

    anchor: str
    title: str
    body: str


def escape(value: Any) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape(str(value), quote=True)


def paragraph(text: str) -> str:
    """A ``<p>`` holding ``text``, escaped."""
    return f"<p>{escape(text)}</p>"


def image(uri: str, alt: str) -> str:
    """An ``<img>`` of a ``data:image/png`` URI, with an escaped caption."""
    if not uri.startswith("data:image/png;base64,"):
        raise ValueError("report images must be PNG data URIs")
    return (
        f'<figure><img src="{escape(uri)}" alt="{escape(alt)}">'
        f"<figcaption>{escape(alt)}</figcaption></figure>"
    )


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, best_column: int | None = None
) -> str:
    """A table with escaped cells; the column at ``best_column`` (0-based) is highlighted."""

    def cell(tag: str, value: Any, column: int) -> str:
        css = ' class="best"' if column == best_column else ""
        return f"<{tag}{css}>{escape(value)}</{tag}>"

    head = "".join(cell("th", header, i) for i, header in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", value, i) for i, value in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_page(title: str, meta: Sequence[str], sections: Sequence[Section]) -> str:
    """The whole page: title, a line of facts, a table of contents and the sections."""
    nav = " ".join(
        f'<a href="#{escape(section.anchor)}">{escape(section.title)}</a>' for section in sections
    )
    body = "\n".join(
        f'<section id="{escape(section.anchor)}"><h2>{escape(section.title)}</h2>'
        f"{section.body}</section>"
        for section in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # no scripts, no external loads: everything the page shows is inline
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1>"
        f'<p class="meta">{" · ".join(escape(line) for line in meta)}</p>'
        f"<nav>{nav}</nav></header>\n{body}\n</body></html>\n"
    )
