"""Read files from disk into Documents: plain text, Markdown, HTML, PDF and corpus JSON Lines.

One bad file never stops a run: it becomes a ``Skipped`` with a reason a person can act on.
Offsets are the contract here as everywhere: ``document.text[section.start:section.end]`` is the
section text, so the text is kept as it stands in the file (only newlines are normalised).
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pypdf
import trafilatura

from medcite.index.text import DOC_ID
from medcite.index.types import Document, Section, content_id


@dataclass(frozen=True)
class Skipped:
    """A file (or ``file:line`` of a JSON Lines file) that was not read, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class ReadReport:
    documents: tuple[Document, ...]
    skipped: tuple[Skipped, ...]


class _Unreadable(Exception):
    """Raised inside a reader; the message becomes the ``Skipped`` reason."""


# A first line longer than this is a paragraph, not a title: it stays in the body.
_MAX_TITLE_CHARS = 200


def read_paths(
    paths: Sequence[Path], *, max_bytes: int = 20_000_000, max_depth: int = 100
) -> ReadReport:
    """Read every supported file in ``paths`` (files, or directories walked in sorted order).

    Never raises for a bad file: each becomes a ``Skipped``. Hidden files and directories inside
    a walked directory are ignored. A file reached twice (named twice, or through a symbolic
    link) is read once, and a document id that was already read is skipped with a reason.
    """
    files, skipped = files_to_read(paths, max_depth)
    return merge_reads(files, [read_file(path, max_bytes) for path in files], skipped)


def files_to_read(paths: Sequence[Path], max_depth: int = 100) -> tuple[list[Path], list[Skipped]]:
    """The files ``read_paths`` reads, in order, each once; and what was skipped finding them."""
    files: list[Path] = []
    skipped: list[Skipped] = []
    files_read: set[str] = set()
    for item in _walk(paths, max_depth):
        if isinstance(item, Skipped):
            skipped.append(item)
            continue
        real_path = os.path.realpath(item)
        if real_path not in files_read:
            files_read.add(real_path)
            files.append(item)
    return files, skipped


def merge_reads(
    files: Sequence[Path], reports: Sequence[ReadReport], skipped: Sequence[Skipped] = ()
) -> ReadReport:
    """One report from the reports of ``files`` (``read_file``, in the same order, read by
    whoever): a document id read before is skipped with a reason."""
    documents: list[Document] = []
    out = list(skipped)
    first_read_from: dict[str, str] = {}
    for path, report in zip(files, reports, strict=True):
        out.extend(report.skipped)
        for document in report.documents:
            if document.id in first_read_from:
                first = first_read_from[document.id]
                reason = f"duplicate document id {document.id} (first read from {first})"
                out.append(Skipped(str(path), reason))
            else:
                first_read_from[document.id] = str(path)
                documents.append(document)
    return ReadReport(tuple(documents), tuple(out))


# --- finding files ----------------------------------------------------------------------------


def _walk(paths: Sequence[Path], max_depth: int) -> Iterator[Path | Skipped]:
    visited: set[str] = set()
    for path in map(Path, paths):
        try:
            is_dir = path.is_dir()
        except OSError as error:
            yield Skipped(str(path), _os_reason(error))
            continue
        if is_dir:
            yield from _walk_directory(path, os.path.realpath(path), visited, 0, max_depth)
        elif path.exists() or path.is_symlink():
            yield path  # reading it says what is wrong with a broken link or a special file
        else:
            yield Skipped(str(path), "no such file or directory")


def _walk_directory(
    directory: Path, root: str, visited: set[str], depth: int, max_depth: int
) -> Iterator[Path | Skipped]:
    """Files under ``directory``. Links are followed only while they stay inside ``root``
    (the real path of the folder being ingested): a link to / would otherwise publish every
    document on the machine."""
    real_path = os.path.realpath(directory)
    if real_path in visited:
        return  # a symbolic link back to a directory already walked (maybe a loop)
    visited.add(real_path)
    if depth > max_depth:
        yield Skipped(str(directory), f"directory is nested more than {max_depth} levels deep")
        return
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError as error:
        yield Skipped(str(directory), f"cannot list directory: {_os_reason(error)}")
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_symlink() and not _inside(os.path.realpath(entry.path), root):
            yield Skipped(entry.path, "links outside the folder being ingested; not followed")
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            yield from _walk_directory(Path(entry.path), root, visited, depth + 1, max_depth)
        else:
            yield Path(entry.path)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


# --- checks shared by every reader ------------------------------------------------------------


def read_file(path: Path, max_bytes: int) -> ReadReport:
    suffix = path.suffix.lower()
    try:
        _regular_file_size(path)  # first, so a broken link says so whatever its extension
        reader = _READERS.get(suffix)
        if reader is None:
            raise _Unreadable(f"unsupported file type {suffix or '(no extension)'}")
        return reader(path, max_bytes)
    except _Unreadable as error:
        return ReadReport((), (Skipped(str(path), str(error)),))


def _regular_file_size(path: Path) -> int:
    try:
        info = path.stat()
    except FileNotFoundError:
        reason = "broken symbolic link" if path.is_symlink() else "no such file or directory"
        raise _Unreadable(reason) from None
    except OSError as error:
        raise _Unreadable(_os_reason(error)) from None
    if not stat.S_ISREG(info.st_mode):
        # Opening a FIFO or a device would block or never end.
        raise _Unreadable("not a regular file")
    return info.st_size


def _load_bytes(path: Path, max_bytes: int) -> bytes:
    size = _regular_file_size(path)
    if size > max_bytes:
        raise _Unreadable(f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB limit")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise _Unreadable(f"cannot read file: {_os_reason(error)}") from None
    if not data:
        raise _Unreadable("empty file")
    return data


def _decode(data: bytes) -> str:
    """UTF-8 text with newlines normalised to \\n. Other encodings are refused, not guessed:
    a wrong guess would put garbled text into quotes shown to patients."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _Unreadable("UTF-16 text is not supported; save the file as UTF-8")
    if b"\x00" in data:
        raise _Unreadable("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")  # plain UTF-8 too; drops a byte-order mark
    except UnicodeDecodeError:
        raise _Unreadable("not valid UTF-8 text") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _os_reason(error: OSError) -> str:
    return error.strerror.lower() if error.strerror else str(error)


def file_id(path: Path) -> str:
    """The id of a document read from a non-corpus file: from its resolved path, not its
    content, so an edited file replaces its earlier version."""
    return "f-" + content_id(str(path.resolve()))


def _title_from_stem(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name


def _one(document: Document) -> ReadReport:
    return ReadReport((document,), ())


# --- plain text and Markdown ------------------------------------------------------------------

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
_DATE = (
    rf"(?:{_MONTH} \d{{1,2}},? \d{{4}}|\d{{1,2}} {_MONTH},? \d{{4}}"
    r"|\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{4}|\d{4}/\d{1,2}/\d{1,2})"
)
_NAME = r"[A-Z][\w.'’-]*(?:,?\s+(?:and\s+)?[A-Z][\w.'’-]*){0,7}"
# Lines that may follow the title in a saved article. Each must match a whole line; the group
# names are the metadata keys. Anything else ends the header block.
_HEADER_LINES = tuple(
    re.compile(pattern)
    for pattern in (
        rf"(?P<date>{_DATE})(?:\s*[|·,-]?\s*Source:\s*(?P<source>.+))?",
        r"(?i:source|from):\s*(?P<source>.+)",
        r"(?i:author|authors|written by|by):\s*(?P<author>.+)",
        rf"By\s+(?P<author>{_NAME})",
        rf"(?P<author>(?:Dr|Prof|Doctor|Professor)\.?\s+{_NAME})",
        r"(?i:date|published|posted):\s*(?P<date>.+)",
        rf"(?i:published|posted)(?: on)?\s+(?P<date>{_DATE})",
        r"(?i:updated|last updated):\s*(?P<updated>.+)",
        rf"(?i:updated|last updated)(?: on)?\s+(?P<updated>{_DATE})",
        r"(?i:reviewed by|medically reviewed by):?\s+(?P<reviewer>.+)",
    )
)
_MD_HEADING = re.compile(r" {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*")
_MD_FENCE = re.compile(r" {0,3}(```|~~~)")


def _read_plain_text(path: Path, max_bytes: int) -> ReadReport:
    return _one(_text_document(path, _decode(_load_bytes(path, max_bytes)), markdown=False))


def _read_markdown(path: Path, max_bytes: int) -> ReadReport:
    return _one(_text_document(path, _decode(_load_bytes(path, max_bytes)), markdown=True))


def _text_document(path: Path, content: str, *, markdown: bool) -> Document:
    """Title from the first line, metadata from the header lines under it, the rest as body."""
    lines = content.split("\n")
    title_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if title_at is None:
        raise _Unreadable("no text (only whitespace)")
    title = lines[title_at].strip()
    heading = _MD_HEADING.fullmatch(title) if markdown else None
    title = heading.group(1) if heading else title
    header: list[tuple[str, str]] = []
    if len(title) > _MAX_TITLE_CHARS:
        title, body_at = _title_from_stem(path), title_at
    else:
        header, body_at = _header_block(lines, title_at + 1)
    text = "\n".join(lines[body_at:]).rstrip()
    if not text:
        raise _Unreadable("no text after the title")
    doc_id = file_id(path)
    body_lines = text.split("\n")
    headings = _markdown_headings(body_lines) if markdown else _plain_headings(body_lines)
    return Document(
        id=doc_id,
        title=title,
        text=text,
        source="file",
        sections=_sections_from_lines(doc_id, text, headings),
        metadata=(("path", str(path)), *_merge_keys(header)),
    )


def _header_block(lines: list[str], start: int) -> tuple[list[tuple[str, str]], int]:
    """Metadata from the header lines at ``lines[start:]``, and the index of the first body line."""
    fields: list[tuple[str, str]] = []
    index = start
    while index < len(lines):
        line = lines[index].strip()
        if line:
            found = _header_fields(line)
            if found is None:
                break
            fields.extend(found)
        index += 1
    return fields, index


def _header_fields(line: str) -> list[tuple[str, str]] | None:
    for pattern in _HEADER_LINES:
        match = pattern.fullmatch(line)
        if match:
            return [(key, value.strip()) for key, value in match.groupdict().items() if value]
    return None


def _merge_keys(fields: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    merged: dict[str, str] = {}
    for key, value in fields:
        merged[key] = f"{merged[key]}; {value}" if key in merged else value
    return tuple(merged.items())


def _markdown_headings(lines: list[str]) -> dict[int, str]:
    headings: dict[int, str] = {}
    in_code = False
    for index, line in enumerate(lines):
        if _MD_FENCE.match(line):
            in_code = not in_code  # "# comment" inside a code block is not a heading
        elif not in_code and (match := _MD_HEADING.fullmatch(line)):
            headings[index] = match.group(1)
    return headings


def _plain_headings(lines: list[str]) -> dict[int, str]:
    """Short standalone lines such as "Introduction" that start a paragraph block."""
    headings: dict[int, str] = {}
    for index, line in enumerate(lines):
        after_break = index == 0 or not lines[index - 1].strip() or _ends_sentence(lines[index - 1])
        if after_break and _looks_like_heading(line) and _paragraph_follows(lines, index + 1):
            headings[index] = line.strip()
    return headings


def _looks_like_heading(line: str) -> bool:
    words = line.split()
    return (
        0 < len(words) <= 8
        and len(line.strip()) <= 80
        and line.strip()[-1] not in ".?!:;,"
        and words[0][0].isalnum()
        and not words[0][0].islower()
    )


def _paragraph_follows(lines: list[str], index: int) -> bool:
    # One blank line may sit between a heading and its paragraph.
    for line in lines[index : index + 2]:
        if line.strip():
            return len(line.split()) > 8 or _ends_sentence(line)
    return False


def _ends_sentence(line: str) -> bool:
    stripped = line.rstrip()
    return bool(stripped) and stripped[-1] in ".?!:"


def _sections_from_lines(doc_id: str, text: str, headings: dict[int, str]) -> tuple[Section, ...]:
    """Sections of ``text`` split at the heading lines (line index -> heading). A heading line is
    not part of any section; the text before the first heading has heading ""."""
    lines = text.split("\n")
    line_starts = [0]
    for line in lines:
        line_starts.append(line_starts[-1] + len(line) + 1)
    spans: list[tuple[str, int, int]] = []
    heading, start = "", 0
    for index in sorted(headings):
        spans.append((heading, start, line_starts[index]))
        heading, start = headings[index], line_starts[index] + len(lines[index])
    spans.append((heading, start, len(text)))
    sections: list[Section] = []
    for heading, start, end in spans:
        start, end = _trim(text, start, end)
        if start < end:
            sections.append(Section(f"{doc_id}#{len(sections) + 1}", heading, start, end))
    if not sections:  # nothing but heading lines: keep the whole text citable
        sections.append(Section(f"{doc_id}#1", "", 0, len(text)))
    return tuple(sections)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


# --- HTML -------------------------------------------------------------------------------------


def _read_html(path: Path, max_bytes: int) -> ReadReport:
    html = _decode(_load_bytes(path, max_bytes))
    try:
        page = trafilatura.bare_extraction(
            html, with_metadata=True, favor_recall=True, include_comments=False
        )
    except Exception as error:  # a parser on untrusted input: see _pdf_pages
        raise _Unreadable(f"cannot parse HTML: {str(error) or type(error).__name__}") from None
    text = "" if page is None or isinstance(page, dict) else (page.text or "").strip()
    if page is None or isinstance(page, dict) or not text:
        raise _Unreadable("no main text found in the HTML")
    doc_id = file_id(path)
    # trafilatura's plain text puts each heading on a line of its own; its element tree says
    # which lines those are.
    heads = page.body.iter("head") if page.body is not None else []
    wanted = [" ".join("".join(head.itertext()).split()) for head in heads]
    metadata = [("path", str(path))]
    metadata += [(key, value) for key, value in _html_meta(page) if value]
    return _one(
        Document(
            id=doc_id,
            title=(page.title or "").strip() or _first_line(text) or _title_from_stem(path),
            text=text,
            source="file",
            sections=_sections_from_lines(doc_id, text, _find_lines(text.split("\n"), wanted)),
            metadata=tuple(metadata),
        )
    )


def _html_meta(page: trafilatura.settings.Document) -> list[tuple[str, str]]:
    return [
        ("author", page.author or ""),
        ("date", page.date or ""),
        ("source", page.sitename or ""),
    ]


def _find_lines(lines: list[str], wanted: list[str]) -> dict[int, str]:
    """Indexes of the lines equal to ``wanted``, matched in order; a missing one is passed over."""
    found: dict[int, str] = {}
    position = 0
    for heading in wanted:
        for index in range(position, len(lines)):
            if heading and " ".join(lines[index].split()) == heading:
                found[index] = heading
                position = index + 1
                break
    return found


def _first_line(text: str) -> str:
    line = next((line.strip() for line in text.split("\n") if line.strip()), "")
    return line if len(line) <= _MAX_TITLE_CHARS else ""


# --- PDF --------------------------------------------------------------------------------------


def _read_pdf(path: Path, max_bytes: int) -> ReadReport:
    """One section per page with text, headed "Page n"; pages joined by a blank line."""
    pages, info_title, info_author = _pdf_pages(_load_bytes(path, max_bytes))
    doc_id = file_id(path)
    parts: list[str] = []
    sections: list[Section] = []
    cursor = 0
    for number, page_text in enumerate(pages, start=1):
        if not page_text:
            continue
        if parts:
            cursor += 2  # the "\n\n" that joins pages
        section_id = f"{doc_id}#{len(sections) + 1}"
        sections.append(Section(section_id, f"Page {number}", cursor, cursor + len(page_text)))
        parts.append(page_text)
        cursor += len(page_text)
    if not parts:
        raise _Unreadable("PDF has no extractable text (scanned images?)")
    text = "\n\n".join(parts)
    metadata = [("path", str(path)), ("pages", str(len(pages)))]
    if info_author:
        metadata.append(("author", info_author))
    return _one(
        Document(
            id=doc_id,
            title=info_title or _first_line(text) or _title_from_stem(path),
            text=text,
            source="file",
            sections=tuple(sections),
            metadata=tuple(metadata),
        )
    )


def _pdf_pages(data: bytes) -> tuple[list[str], str, str]:
    """The text of each page (stripped, maybe empty), the title and the author."""
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise _Unreadable("PDF is encrypted (needs a password)")
        # NUL characters come from broken font maps; they would corrupt stored text.
        pages = [
            (page.extract_text() or "").replace("\x00", "").replace("\r\n", "\n").strip()
            for page in reader.pages
        ]
        info = reader.metadata
        title = (info.title or "").strip() if info else ""
        author = (info.author or "").strip() if info else ""
    except _Unreadable:
        raise
    except Exception as error:
        # pypdf raises many exception types on malformed files, not only PyPdfError. One bad
        # file must not stop a run; the reason is reported in the Skipped, not swallowed.
        raise _Unreadable(f"cannot read PDF: {str(error) or type(error).__name__}") from None
    return pages, title, author


# --- corpus JSON Lines ------------------------------------------------------------------------


def _read_jsonl(path: Path, max_bytes: int) -> ReadReport:
    """One article per line; a bad line is skipped as ``file:line`` and the rest still read."""
    documents: list[Document] = []
    skipped: list[Skipped] = []
    try:
        with path.open("rb") as handle:
            for lineno, raw in _numbered_lines(handle, max_bytes):
                try:
                    if raw is None:
                        raise _Unreadable(f"line is over the {max_bytes / 1e6:g} MB limit")
                    documents.append(_corpus_document(_parse_json(raw), path))
                except _Unreadable as error:
                    skipped.append(Skipped(f"{path}:{lineno}", str(error)))
    except OSError as error:
        raise _Unreadable(f"cannot read file: {_os_reason(error)}") from None
    if not documents and not skipped:
        raise _Unreadable("empty file")
    return ReadReport(tuple(documents), tuple(skipped))


def _numbered_lines(handle: BinaryIO, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """Non-blank lines with their numbers; None for a line longer than ``max_bytes``, which is
    read in pieces and dropped so that one giant line cannot fill memory. (The file as a whole
    has no size limit: the corpus is bigger than any one article should be.)"""
    lineno = 0
    while raw := handle.readline(max_bytes + 1):
        lineno += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = handle.readline(max_bytes + 1)
            yield lineno, None
        elif raw.strip():
            yield lineno, raw


def _parse_json(raw: bytes) -> object:
    try:
        line = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _Unreadable("not valid UTF-8 text") from None
    try:
        return json.loads(line.rstrip())  # so an error at the end reports its column
    except json.JSONDecodeError as error:
        raise _Unreadable(f"not valid JSON ({error.msg} at column {error.colno})") from None


def _corpus_document(record: object, path: Path) -> Document:
    """A Document from one corpus record, ids and offsets kept exactly, or _Unreadable."""
    if not isinstance(record, dict):
        raise _Unreadable("not a JSON object")
    doc_id, text = record.get("id"), record.get("text")
    if not isinstance(doc_id, str) or not doc_id:
        raise _Unreadable('missing "id"')
    if not DOC_ID.fullmatch(doc_id):
        raise _Unreadable(f"id {doc_id!r} may only use letters, digits and _ . # -")
    if not isinstance(text, str) or not text.strip():
        raise _Unreadable(f'article {doc_id} is missing "text"')
    synonyms = record.get("synonyms") or []
    if not isinstance(synonyms, list) or not all(isinstance(s, str) for s in synonyms):
        raise _Unreadable(f'article {doc_id}: "synonyms" is not a list of strings')
    metadata = (("path", str(path)),) + ((("synonyms", "; ".join(synonyms)),) if synonyms else ())
    return Document(
        id=doc_id,
        title=_optional_str(record, "title", doc_id) or doc_id,
        text=text,
        url=_optional_str(record, "url", doc_id),
        source=_optional_str(record, "source", doc_id),
        sections=_corpus_sections(doc_id, text, record.get("sections")),
        metadata=metadata,
    )


def _optional_str(record: dict[str, object], key: str, doc_id: str) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Unreadable(f'article {doc_id}: "{key}" is not a string')
    return value


def _corpus_sections(doc_id: str, text: str, raw: object) -> tuple[Section, ...]:
    if not raw:
        return (Section(f"{doc_id}#1", "", 0, len(text)),)
    if not isinstance(raw, list):
        raise _Unreadable(f'article {doc_id}: "sections" is not a list')
    sections: list[Section] = []
    previous_end = 0
    for number, item in enumerate(raw, start=1):
        where = f"article {doc_id} section {number}"
        if not isinstance(item, dict):
            raise _Unreadable(f"{where} is not a JSON object")
        start, end = item.get("start"), item.get("end")
        if not isinstance(start, int) or not isinstance(end, int):
            raise _Unreadable(f"{where} has no whole-number start and end")
        if isinstance(start, bool) or isinstance(end, bool):  # JSON true is an int to Python
            raise _Unreadable(f"{where} has no whole-number start and end")
        if not 0 <= start <= end <= len(text):
            raise _Unreadable(
                f"{where} offsets {start}-{end} are outside the text (length {len(text)})"
            )
        if start < previous_end:
            raise _Unreadable(f"{where} overlaps the section before it")
        section_id = _optional_str(item, "id", doc_id) or f"{doc_id}#{number}"
        sections.append(Section(section_id, _optional_str(item, "heading", doc_id), start, end))
        previous_end = end
    return tuple(sections)


_READERS: dict[str, Callable[[Path, int], ReadReport]] = {
    ".txt": _read_plain_text,
    ".md": _read_markdown,
    ".markdown": _read_markdown,
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
    ".jsonl": _read_jsonl,
    ".json": _read_jsonl,  # the corpus format, one article per line
}
