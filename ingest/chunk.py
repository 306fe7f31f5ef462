"""Split documents into sentence-aware passages that never cross a section boundary."""

from __future__ import annotations

from medcite.index.text import sentence_spans, word_spans
from medcite.index.types import Document, Passage, Section, content_id

DEFAULT_MAX_WORDS = 160


def document_sections(document: Document) -> tuple[Section, ...]:
    """The document's sections, or one section covering the whole text."""
    if document.sections:
        return document.sections
    return (Section(id=f"{document.id}#1", heading="", start=0, end=len(document.text)),)


def chunk_document(document: Document, max_words: int = DEFAULT_MAX_WORDS) -> list[Passage]:
    """Passages of at most ``max_words`` words, packed from whole sentences where possible.

    Each passage satisfies ``passage.text == document.text[passage.start:passage.end]``."""
    if max_words < 1:
        raise ValueError("max_words must be at least 1")
    passages: list[Passage] = []
    checksum = document.checksum  # hashes the whole text: once, not once per passage
    for section in document_sections(document):
        for start, end in _pack(document.text, section.start, section.end, max_words):
            text = document.text[start:end]
            passages.append(
                Passage(
                    id=content_id(document.id, checksum, str(start), str(end)),
                    doc_id=document.id,
                    start=start,
                    end=end,
                    text=text,
                    section_id=section.id,
                    heading=section.heading,
                )
            )
    return passages


def _pack(text: str, start: int, end: int, max_words: int) -> list[tuple[int, int]]:
    """Greedy packing of sentence spans into windows of at most ``max_words`` words; a
    sentence longer than that is cut at word boundaries."""
    pieces: list[tuple[int, int, int]] = []  # (start, end, words)
    for s_start, s_end in sentence_spans(text, start, end):
        spans = word_spans(text, s_start, s_end)
        for i in range(0, len(spans), max_words):
            chunk = spans[i : i + max_words]
            pieces.append((chunk[0][0], chunk[-1][1], len(chunk)))

    windows: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    count = 0
    for p_start, p_end, n in pieces:
        if current is not None and count + n <= max_words:
            current = (current[0], p_end)
            count += n
            continue
        if current is not None:
            windows.append(current)
        current, count = (p_start, p_end), n
    if current is not None:
        windows.append(current)
    return windows


def embedding_text(title: str, heading: str, passage_text: str) -> str:
    """What the model sees: the title (and heading) tie shared boilerplate to its article."""
    prefix = f"{title} — {heading}" if heading else title
    return f"{prefix}: {passage_text}" if prefix else passage_text
