"""A tiny document model rendered twice: report.md and a self-contained
report.html (CSS inline, figures embedded as base64 data: URIs (`embedded_figure`), no network
reference; the only script is the explorer's, passed in as a "raw" block).

Blocks are tuples:
  ("h", level, text) | ("p", text) | ("ul", [text, ...]) | ("code", text)
  ("table", header, rows)          rows: lists of already formatted strings
  ("raw", html, markdown)          already formatted text for each output
  ("figure", base_path, caption[, has_svg=False])  base_path.png (and .svg): a path relative
                                                   to the results folder, e.g. figures/roc
Inline markup in text: `code` and *emphasis* only.

Each figure is embedded once (the smallest of its PNG, its SVG, or a JPEG of a
photographic PNG); tables wider than the page scroll
inside their own box; tables longer than LONG_TABLE rows are collapsed in a
<details> element (open it to read them).
"""

from __future__ import annotations

import base64
import html
import os
import re

#: tables with more rows than this are collapsed in report.html
LONG_TABLE = 25

CSS = """
body{font-family:Georgia,'DejaVu Serif',serif;max-width:68rem;margin:2rem auto;padding:0 1rem;color:#111;line-height:1.45}
h1,h2,h3{font-family:'DejaVu Sans',Arial,sans-serif}
h2{border-bottom:1px solid #bbb;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;font-family:'DejaVu Sans Mono',monospace;font-size:.78rem;margin:.6rem 0}
th,td{border:1px solid #ccc;padding:.15rem .4rem;text-align:right;white-space:nowrap}
th{background:#f0f0f0;white-space:normal;vertical-align:bottom}td:first-child,th:first-child{text-align:left}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.88rem;color:#333}
pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;font-size:.78rem}
code{font-size:.9em;background:#f3f3f3;padding:0 .15rem}
.scroll{overflow-x:auto}
details>summary{cursor:pointer;font-family:'DejaVu Sans',Arial,sans-serif;font-size:.85rem;color:#333}
.first dl.terms{font-size:.9rem;margin:.4rem 0}.first dd{margin:0 0 .15rem 0}
table.tpr td{text-align:center}.first .note{font-size:.8rem;color:#333;margin-top:0}
table.glance{font-size:.85rem}
nav p{font-family:'DejaVu Sans',Arial,sans-serif;font-size:.85rem}
@media print{body{max-width:none}figure{page-break-inside:avoid}.scroll{overflow:visible}table{font-size:.6rem}nav{display:none}}
"""


def _inline_md(text: str) -> str:
    return text


def _inline_html(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])", r"<em>\1</em>", out)
    return out


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks) -> str:
    out = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out += ["#" * b[1] + " " + b[2], ""]
        elif kind == "p":
            out += [_inline_md(b[1]), ""]
        elif kind == "ul":
            out += [f"- {_inline_md(item)}" for item in b[1]] + [""]
        elif kind == "code":
            out += ["```", b[1].rstrip("\n"), "```", ""]
        elif kind == "table":
            header, rows = b[1], b[2]
            out.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
            out.append("|" + "---|" * len(header))
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            out.append("")
        elif kind == "raw":
            out += [b[2].rstrip("\n"), ""]
        elif kind == "figure":
            svg = f" (also as [{b[1]}.svg]({b[1]}.svg))" if len(b) >= 4 and b[3] else ""
            out += [f"![{b[2].split('.')[0]}]({b[1]}.png)", "", f"*{b[2]}*{svg}", ""]
        else:
            raise ValueError(f"unknown block {kind!r}")
    return "\n".join(out).rstrip("\n") + "\n"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


#: quality of the JPEG that stands in for a photographic PNG (the gallery)
JPEG_QUALITY = 70


def embedded_figure(base_path: str) -> tuple[str, bytes]:
    """(MIME type, bytes) of the figure base_path.png as embedded in
    report.html: the smallest of the PNG itself, base_path.svg when it
    exists, and, for a photographic PNG (more than 256 colours, i.e. the
    collision gallery), a JPEG of it at JPEG_QUALITY. The files on disk are
    not changed."""
    with open(base_path + ".png", "rb") as fh:
        best = ("image/png", fh.read())
    if os.path.isfile(base_path + ".svg"):
        with open(base_path + ".svg", "rb") as fh:
            svg = fh.read()
        if len(svg) < len(best[1]):
            best = ("image/svg+xml", svg)
    if best[0] == "image/png":
        import io

        from PIL import Image

        with Image.open(io.BytesIO(best[1])) as im:
            photo = im.mode in ("RGB", "RGBA") and im.convert("RGB").getcolors(256) is None
            if photo:
                buf = io.BytesIO()
                im.convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
                if buf.tell() < len(best[1]):
                    best = ("image/jpeg", buf.getvalue())
    return best


def render_html(blocks, folder: str, title: str) -> str:
    """Self-contained HTML: every figure is read from `folder` and embedded
    as a data: URI; nothing else is referenced."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
    ]
    toc = [b[2] for b in blocks if b[0] == "h" and b[1] == 2]
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out.append(f'<h{b[1]} id="{_slug(b[2])}">{_inline_html(b[2])}</h{b[1]}>')
            if b[1] == 1 and toc:
                out.append(
                    "<nav><p>Contents: "
                    + " &middot; ".join(f'<a href="#{_slug(t)}">{html.escape(t)}</a>' for t in toc)
                    + "</p></nav>"
                )
        elif kind == "p":
            out.append(f"<p>{_inline_html(b[1])}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in b[1]) + "</ul>")
        elif kind == "code":
            out.append(f"<pre>{html.escape(b[1])}</pre>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(str(h))}</th>" for h in b[1])
            body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in b[2])
            table = f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
            if len(b[2]) > LONG_TABLE:
                table = f"<details><summary>{len(b[2])} rows (click to show)</summary>{table}</details>"
            out.append(table)
        elif kind == "raw":
            out.append(b[1])
        elif kind == "figure":
            mime, raw = embedded_figure(os.path.join(folder, b[1]))
            data = base64.b64encode(raw).decode("ascii")
            out.append(
                f'<figure><img src="data:{mime};base64,{data}" alt="{html.escape(b[2])}">'
                f"<figcaption>{_inline_html(b[2])}</figcaption></figure>"
            )
        else:
            raise ValueError(f"unknown block {kind!r}")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
