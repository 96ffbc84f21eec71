"""The HTML pieces report.html is built from (html.py for every run, table_sections.py for a table run's parts)."""

from __future__ import annotations

import base64
from html import escape


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def img(png: bytes, alt: str, css_class: str = "") -> str:
    cls = f' class="{css_class}"' if css_class else ""
    return f'<img{cls} src="{data_uri(png)}" alt="{escape(alt)}">'


def table(rows: list[tuple[str, ...]], head: tuple[str, ...] | None = None, *, table_id: str = "") -> str:
    """A table of cells that are already HTML (escape text before passing it); head cells are escaped here."""
    out = [f'<table id="{table_id}">' if table_id else "<table>"]
    if head:
        out.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    return "".join(out) + "</table>"
