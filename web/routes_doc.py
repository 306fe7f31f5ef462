"""The article view: a whole stored article, with a cited span highlighted.

Bad offsets are refused with 400 and a message saying what is allowed (a wrong link should be
noticed, not silently shown as an unhighlighted article); unknown or malformed ids are 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from medcite.index.errors import InputError
from medcite.index.types import Document
from medcite.web.deps import DocumentDep, TemplatesDep
from medcite.web.schemas import doc_link, safe_url

router = APIRouter(tags=["articles"])


@dataclass(frozen=True)
class Piece:
    """A run of article text; ``marked`` inside the highlighted span, ``anchor`` on the first
    marked piece (it gets ``id="quote"``)."""

    text: str
    marked: bool = False
    anchor: bool = False


@dataclass(frozen=True)
class Block:
    heading: str
    pieces: tuple[Piece, ...]


def parse_span(document: Document, start: str | None, end: str | None) -> tuple[int, int] | None:
    """The highlight span, None when neither offset is given; InputError when invalid."""
    if start is None and end is None:
        return None
    length = len(document.text)
    rule = (
        f"start and end must both be whole numbers with 0 <= start < end <= {length} "
        f"(the article's length); open {doc_link(document.id)} for the article without a highlight"
    )
    if start is None or end is None or not _is_int(start) or not _is_int(end):
        raise InputError(f"the highlight offsets are not valid: {rule}")
    first, last = int(start), int(end)
    if not 0 <= first < last <= length:
        raise InputError(f"the highlight offsets are not valid: {rule}")
    return first, last


def _is_int(value: str) -> bool:
    return re.fullmatch(r"[0-9]{1,12}", value.strip()) is not None


def article_blocks(document: Document, span: tuple[int, int] | None) -> list[Block]:
    """The article as titled blocks (its sections, plus any text between them), each split
    into pieces so the template can wrap the span in <mark> without touching raw HTML."""
    ranges: list[tuple[str, int, int]] = []
    cursor = 0
    for section in sorted(document.sections, key=lambda s: s.start):
        if document.text[cursor : section.start].strip():
            ranges.append(("", cursor, section.start))
        ranges.append((section.heading, section.start, section.end))
        cursor = max(cursor, section.end)
    if document.text[cursor:].strip():
        ranges.append(("", cursor, len(document.text)))

    blocks = []
    anchored = False
    for heading, a, b in ranges:
        cuts = [a, b]
        if span is not None:
            cuts += [x for x in span if a < x < b]
        cuts.sort()
        pieces = []
        for x, y in zip(cuts, cuts[1:], strict=False):
            if x == y:
                continue
            marked = span is not None and span[0] <= x and y <= span[1]
            pieces.append(Piece(document.text[x:y], marked, marked and not anchored))
            anchored = anchored or marked
        blocks.append(Block(heading, tuple(pieces)))
    return blocks


@router.get("/doc/{doc_id}", response_class=HTMLResponse)
def article(
    request: Request,
    document: DocumentDep,
    templates: TemplatesDep,
    start: str | None = None,
    end: str | None = None,
) -> HTMLResponse:
    """The article ``doc_id``; with ``start`` and ``end``, that span is highlighted (#quote)."""
    span = parse_span(document, start, end)
    return templates.TemplateResponse(
        request,
        "doc.html",
        {
            "document": document,
            "url": safe_url(document.url),
            "blocks": article_blocks(document, span),
            "highlighted": span is not None,
        },
    )
