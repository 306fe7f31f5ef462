"""The data that flows through medcite, defined once.

Offsets are the contract: ``passage.text == document.text[passage.start:passage.end]``.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum


def content_id(*parts: str, length: int = 16) -> str:
    """Stable id from content: sha256 of the NFC-normalised parts, hex, truncated."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(unicodedata.normalize("NFC", part).encode("utf-8"))
        digest.update(b"\x1f")
    return digest.hexdigest()[:length]


class VectorIndexKind(StrEnum):
    """The FAISS index a generation is built with; the value is what ``medcite ingest
    --vector-index`` takes and the manifest records."""

    AUTO = "auto"  # flat, or HNSW above ``vectors.HNSW_THRESHOLD`` passages
    FLAT = "flat"  # exact inner product
    HNSW = "hnsw"  # approximate, for very large corpora


@dataclass(frozen=True)
class Section:
    """A titled span of a document: ``document.text[start:end]``."""

    id: str
    heading: str
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """One article. ``id`` is stable across edits (the corpus id, or derived from the file path);
    ``checksum`` changes whenever anything stored for it but its metadata changes: text, title,
    url, source, or a section's id, heading or offsets."""

    id: str
    title: str
    text: str
    url: str = ""
    source: str = ""
    sections: tuple[Section, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def checksum(self) -> str:
        sections = json.dumps([[s.id, s.heading, s.start, s.end] for s in self.sections])
        return content_id(self.source, self.url, self.title, self.text, sections, length=32)

    def meta(self) -> dict[str, str]:
        return dict(self.metadata)


@dataclass(frozen=True)
class Passage:
    """A retrievable piece of a document, never crossing a section boundary."""

    id: str
    doc_id: str
    start: int
    end: int
    text: str
    section_id: str = ""
    heading: str = ""


@dataclass(frozen=True)
class Hit:
    """A passage found by a search, with the article facts a reader needs to cite it."""

    passage: Passage
    score: float
    title: str
    url: str = ""
    source: str = ""
    # How each retriever saw it, e.g. (("dense", 0.71), ("dense_rank", 1.0), ("lexical", 12.3)).
    signals: tuple[tuple[str, float], ...] = field(default=())

    def signal(self, name: str, default: float = 0.0) -> float:
        return dict(self.signals).get(name, default)
