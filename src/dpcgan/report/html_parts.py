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


def pixel_scale(native_width: int, target_width: int, *, minimum: int = 2) -> int:
    """The integer magnification for a pixel image: the largest that keeps it within target_width, at least
    `minimum` (an integer keeps every image pixel the same number of screen pixels)."""
    return max(minimum, target_width // max(native_width, 1))


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, without decoding it."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def zoomable(png: bytes, alt: str, *, zoom_id: str, back: str, scale: int,
             row_labels: list[str] | None = None, pad: int = 0, cell: int = 0, caption: str = "") -> str:
    """A pixel image shown at `scale` times its size (crisp pixels), wrapped in a link that enlarges it to fill the
    window, and a second link (over the whole enlarged view) that shrinks it back to `back` (an element id).

    No script: the enlarged view is CSS's :target (ZOOM_CSS). A link to the image's data: URI would show it at its
    native size (smaller than here), and browsers refuse top-level navigations to data: URIs anyway.
    row_labels: names beside the rows of a grid laid out as dpcgan.io.image_grid does (`pad` pixels, then rows of
    `cell + pad`); their heights are flex weights in image pixels, so they stay aligned at any magnification."""
    width, height = png_size(png)
    rows = ""
    if row_labels:
        rows = (f'<span class="rows"><span style="flex-grow:{pad}"></span>'
                + "".join(f'<span style="flex-grow:{cell + pad}">{escape(n)}</span>' for n in row_labels)
                + "</span>")
    caption = f"<figcaption>{caption}</figcaption>" if caption else ""
    return (f'<figure class="zoom" id="{zoom_id}"><a class="open" href="#{zoom_id}" title="click to enlarge">{rows}'
            f'<img class="pixels" src="{data_uri(png)}" alt="{escape(alt)}" width="{width * scale}" '
            f'height="{height * scale}" style="--w:{width};--h:{height}"></a>'
            f'<a class="close" href="#{back}" title="back to the report">×</a>{caption}</figure>')


# The enlarged view of zoomable(): the figure fills the window, the image as large as the window allows (aspect kept
# with --w/--h, the image's own size), and the close link covers it all, so that any click goes back.
ZOOM_CSS = """
.zoom{margin:0 0 .6em 0}
.zoom a.open{display:inline-flex;align-items:stretch;gap:.4em;color:inherit;text-decoration:none;cursor:zoom-in}
.zoom img.pixels{image-rendering:crisp-edges;image-rendering:pixelated;max-width:none;height:auto;
border:1px solid #ddd;flex:0 0 auto}
.zoom .rows{display:flex;flex-direction:column;flex:0 0 auto;max-width:12em;text-align:right;font-size:.9em;
padding:1px 0}
.zoom .rows span{display:flex;align-items:center;justify-content:flex-end;flex-basis:0;min-height:0;
overflow:hidden;white-space:nowrap;line-height:1.1}
.zoom a.close{display:none}
.zoom:target{position:fixed;inset:0;z-index:10;margin:0;padding:1em;background:#1a1a1a;color:#fff;
display:flex;flex-direction:column;align-items:center;justify-content:center;overflow:auto}
.zoom:target img.pixels{width:min(calc(100vw - 16em),calc((100vh - 5em) * var(--w) / var(--h)));height:auto;
border-color:#555}
.zoom:target a.close{display:block;position:fixed;inset:0;z-index:11;text-align:right;padding:.2em .6em;
color:#fff;font-size:2.2em;text-decoration:none;cursor:zoom-out}
.zoom:target figcaption{color:#fff}
"""
