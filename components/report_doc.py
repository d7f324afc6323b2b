"""The report as a list of blocks (headings, paragraphs, tables, images, notes), rendered to
Markdown (report.md) and to one self-contained HTML page (report.html, the page the Kubeflow UI
shows) from the same blocks: the two always carry the same figures.
"""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str
    strong: bool = False  # the one line a reader must not miss (who wins)


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Image:
    alt: str
    name: str  # a file beside the report


@dataclass(frozen=True)
class Note:
    text: str


Block = Union[Heading, Paragraph, Table, Image, Note]


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    return Table(tuple(str(h) for h in header), tuple(tuple(str(c) for c in row) for row in rows))


def to_markdown(blocks: Sequence[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            lines += [f"**{block.text}**" if block.strong else block.text, ""]
        elif isinstance(block, Table):
            lines += ["| " + " | ".join(block.header) + " |", "|" + "|".join("---" for _ in block.header) + "|"]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in block.rows]
            lines.append("")
        elif isinstance(block, Image):
            lines += [f"![{block.alt}]({block.name})", ""]
        else:
            lines += [f"> **Note:** {block.text}", ""]
    return "\n".join(lines)


_STYLE = ("body{font-family:sans-serif;margin:1.5em;max-width:80em}table{border-collapse:collapse;margin:.6em 0}"
          "td,th{border:1px solid #bbb;padding:.25em .6em;text-align:right}th{background:#eee}"
          "td:first-child,th:first-child{text-align:left}.note{color:#a40}.warn{background:#fff3cd;padding:.5em}"
          "img{max-width:100%}")


def to_html(blocks: Sequence[Block], folder: Path, head: Sequence[tuple[str, str]] = (), banner: str = "",
            warn: bool = False) -> str:
    """One page; images are read from `folder` and embedded (the page stands alone). `head`:
    (text, url) links shown under the title; `banner`: a line shown there (`warn`: highlighted)."""
    title = next((b.text for b in blocks if isinstance(b, Heading)), "fcbench report")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body>"]
    for i, block in enumerate(blocks):
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            text = html.escape(block.text)
            parts.append(f"<p><strong>{text}</strong></p>" if block.strong else f"<p>{text}</p>")
        elif isinstance(block, Table):
            head_row = "".join(f"<th>{html.escape(h)}</th>" for h in block.header)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            parts.append(f"<table><tr>{head_row}</tr>{body}</table>")
        elif isinstance(block, Image):
            path = folder / block.name
            if path.is_file():
                data = base64.b64encode(path.read_bytes()).decode()
                parts.append(f"<img alt='{html.escape(block.alt)}' src='data:image/png;base64,{data}'>")
        else:
            parts.append(f"<p class='note'><strong>Note:</strong> {html.escape(block.text)}</p>")
        if i == 0 and (head or banner):  # under the title
            links = [f"<a href='{html.escape(url)}'>{html.escape(text)}</a>" for text, url in head if url]
            if links:
                parts.append("<p>" + " · ".join(links) + "</p>")
            if banner:
                parts.append(f"<p class='{'warn' if warn else ''}'>{html.escape(banner)}</p>")
    parts.append("</body></html>")
    return "".join(parts)


