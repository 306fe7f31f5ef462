"""Readers: every supported format into Documents with exact offsets; every bad file skipped
with a reason, never an exception."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
from pathlib import Path

import pypdf
import pytest

from medcite.index.text import DOC_ID
from medcite.index.types import Document
from medcite.ingest.readers import ReadReport, Skipped, read_paths

DATA = Path(__file__).parent / "data"
SEED = DATA / "small-needle-knife-cervical-spondylosis.txt"
CORPUS_SAMPLE = DATA / "corpus-sample.jsonl"


# --- helpers ----------------------------------------------------------------------------------


def assert_offsets_hold(document: Document) -> None:
    """The contract every reader keeps: sections are in order, inside the text, not overlapping."""
    assert DOC_ID.fullmatch(document.id)
    assert document.sections, document.id
    assert len({s.id for s in document.sections}) == len(document.sections)
    previous_end = 0
    for section in document.sections:
        assert previous_end <= section.start <= section.end <= len(document.text)
        previous_end = section.end


def read(*paths: Path, **options: int) -> ReadReport:
    report = read_paths(list(paths), **options)
    for document in report.documents:
        assert_offsets_hold(document)
    return report


def read_one(path: Path) -> Document:
    report = read(path)
    assert report.skipped == ()
    assert len(report.documents) == 1
    return report.documents[0]


def skip_reason(path: Path, **options: int) -> str:
    report = read(path, **options)
    assert report.documents == ()
    assert len(report.skipped) == 1
    return report.skipped[0].reason


def section_texts(document: Document) -> list[tuple[str, str]]:
    return [(s.heading, document.text[s.start : s.end]) for s in document.sections]


def minimal_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A valid PDF with one text line per string, written by hand (no PDF library writes text)."""
    bodies: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    page_ids = []
    next_id = 4
    for lines in pages:
        page_id, stream_id = next_id, next_id + 1
        next_id += 2
        page_ids.append(page_id)
        escaped = [
            line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines
        ]
        stream = "\n".join(
            ["BT /F1 12 Tf 14 TL 72 720 Td", *(f"({e}) Tj T*" for e in escaped), "ET"]
        )
        data = stream.encode("latin-1")
        bodies[page_id] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
            b" /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % stream_id
        )
        bodies[stream_id] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data)
    kids = " ".join(f"{page_id} 0 R" for page_id in page_ids)
    bodies[2] = f"<< /Type /Pages /Kids [{kids}] /Count {len(page_ids)} >>".encode()
    info = ""
    if title is not None:
        bodies[next_id] = f"<< /Title ({title}) >>".encode("latin-1")
        info = f" /Info {next_id} 0 R"
        next_id += 1
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for object_id in range(1, next_id):
        offsets[object_id] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (object_id, bodies[object_id])
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % next_id
    out += b"".join(b"%010d 00000 n \n" % offsets[i] for i in range(1, next_id))
    out += f"trailer\n<< /Size {next_id} /Root 1 0 R{info} >>\n".encode()
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def encrypted_pdf(user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(minimal_pdf([["Secret text"]]))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# --- plain text -------------------------------------------------------------------------------


def test_seed_article_title_is_the_first_line() -> None:
    document = read_one(SEED)
    assert document.title == (
        "How effective is the small needle knife treatment for cervical spondylosis?"
    )
    assert document.id.startswith("f-")
    assert document.source == "file"
    assert document.url == ""


def test_seed_article_date_source_and_doctor_are_metadata_not_text() -> None:
    document = read_one(SEED)
    assert document.meta() == {
        "path": str(SEED),
        "date": "Dec 23, 2024",
        "source": "Cainiu Health",
        "author": "Dr. Chen Jian",
    }
    for header in ("Dec 23, 2024", "Cainiu Health", "Chen Jian", document.title):
        assert header not in document.text
    assert document.text.startswith("Introduction\nIn general, small needle knife therapy")


def test_seed_article_introduction_is_a_section_heading() -> None:
    document = read_one(SEED)
    [(heading, text)] = section_texts(document)
    assert heading == "Introduction"
    assert text.startswith("In general, small needle knife therapy")
    assert text.endswith("prevent recurrence of the condition.")


def test_seed_article_text_is_verbatim_from_the_file() -> None:
    document = read_one(SEED)
    assert document.text in SEED.read_text(encoding="utf-8")


def test_plain_text_without_headings_is_one_section(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("Title\n\nFirst paragraph of the note.\nSecond line of it.\n\nMore text.\n")
    document = read_one(path)
    assert document.title == "Title"
    assert document.text == "First paragraph of the note.\nSecond line of it.\n\nMore text."
    assert section_texts(document) == [("", document.text)]


def test_plain_text_short_lines_before_paragraphs_start_sections(tmp_path: Path) -> None:
    path = tmp_path / "article.txt"
    path.write_text(
        "Back pain\n\n"
        "Back pain is common and usually gets better on its own within a few weeks.\n\n"
        "Causes\n\n"
        "Most back pain comes from strained muscles or ligaments after lifting something heavy.\n\n"
        "When to see a doctor\n"
        "See a doctor if the pain spreads down a leg, or comes with fever or numbness.\n\n"
        "A list line without a period\n"
        "Short line\n"
    )
    document = read_one(path)
    assert section_texts(document) == [
        ("", "Back pain is common and usually gets better on its own within a few weeks."),
        (
            "Causes",
            "Most back pain comes from strained muscles or ligaments after lifting "
            "something heavy.",
        ),
        (
            "When to see a doctor",
            "See a doctor if the pain spreads down a leg, or comes with "
            "fever or numbness.\n\nA list line without a period\nShort line",
        ),
    ]


def test_plain_text_keeps_line_breaks_and_normalises_crlf(tmp_path: Path) -> None:
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"Title\r\n\r\nOne paragraph\r\nwrapped over lines.   \r\n")
    document = read_one(path)
    assert document.text == "One paragraph\nwrapped over lines."


def test_header_lines_are_only_read_right_after_the_title(tmp_path: Path) -> None:
    path = tmp_path / "late.txt"
    path.write_text("Title\nBy Jane Doe\n\nA first paragraph of text.\nSource: the body says so\n")
    document = read_one(path)
    assert document.meta()["author"] == "Jane Doe"
    assert "source" not in document.meta()
    assert document.text == "A first paragraph of text.\nSource: the body says so"


def test_sentence_after_the_title_is_body_not_author(tmp_path: Path) -> None:
    path = tmp_path / "by.txt"
    path.write_text("Title\nBy the age of five most children have had a cold.\n")
    document = read_one(path)
    assert document.text == "By the age of five most children have had a cold."
    assert document.meta() == {"path": str(path)}


def test_long_first_line_is_body_and_title_comes_from_file_name(tmp_path: Path) -> None:
    path = tmp_path / "knee_pain-notes.txt"
    paragraph = "This note is one long paragraph about knee pain. " * 6
    path.write_text(paragraph.strip() + "\n")
    document = read_one(path)
    assert document.title == "knee pain notes"
    assert document.text == paragraph.strip()


def test_title_only_file_is_skipped_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "title.txt"
    path.write_text("Just a title\n\n")
    assert skip_reason(path) == "no text after the title"


def test_file_keeps_its_id_when_edited(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("Title\n\nOld text.\n")
    before = read_one(path)
    path.write_text("Title\n\nNew text.\n")
    after = read_one(path)
    assert before.id == after.id
    assert before.checksum != after.checksum


def test_utf8_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfTitle\n\nBody text.\n")
    document = read_one(path)
    assert document.title == "Title"


# --- Markdown ---------------------------------------------------------------------------------


def test_markdown_title_metadata_and_heading_sections() -> None:
    document = read_one(DATA / "asthma.md")
    assert document.title == "Living with asthma"
    assert document.meta()["author"] == "Jane Doe, MD"
    assert document.meta()["updated"] == "2024-05-02"
    sections = section_texts(document)
    assert [heading for heading, _ in sections] == ["", "Symptoms", "Treatment"]
    assert sections[0][1] == (
        "Asthma is a long-term condition of the airways.\n"
        "This line break is part of the same paragraph and must be kept."
    )
    assert sections[1][1].startswith("Wheezing, coughing")
    assert "# this is a comment in a code block" in sections[2][1]
    assert "Jane Doe" not in document.text


def test_markdown_heading_lines_are_outside_sections() -> None:
    document = read_one(DATA / "asthma.md")
    for _, text in section_texts(document):
        assert "## " not in text


# --- HTML -------------------------------------------------------------------------------------


def test_html_main_text_has_no_scripts_styles_or_navigation() -> None:
    document = read_one(DATA / "asthma.html")
    assert "SCRIPT_MARKER" not in document.text
    assert "STYLE_MARKER" not in document.text
    assert "About us" not in document.text
    assert "Asthma is a chronic disease of the airways" in document.text
    assert document.title == "Asthma basics"
    assert document.meta()["author"] == "Jane Doe"


def test_html_headings_start_sections() -> None:
    document = read_one(DATA / "asthma.html")
    sections = section_texts(document)
    assert [heading for heading, _ in sections] == ["Asthma basics", "Symptoms", "Treatment"]
    assert sections[1][1].startswith("Common symptoms are wheezing")
    assert "Coughing at night" in sections[1][1]


def test_html_without_main_text_is_skipped_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    path.write_text("<html><head><script>alert(1)</script></head><body></body></html>")
    assert skip_reason(path) == "no main text found in the HTML"


# --- PDF --------------------------------------------------------------------------------------


def test_pdf_pages_become_sections_with_exact_offsets(tmp_path: Path) -> None:
    path = tmp_path / "guide.pdf"
    pages = [["Asthma care guide", "Asthma is a chronic disease."], [], ["Inhalers help."]]
    path.write_bytes(minimal_pdf(pages, title="Asthma guide"))
    document = read_one(path)
    assert document.title == "Asthma guide"
    assert document.text == "Asthma care guide\nAsthma is a chronic disease.\n\nInhalers help."
    assert section_texts(document) == [
        ("Page 1", "Asthma care guide\nAsthma is a chronic disease."),
        ("Page 3", "Inhalers help."),
    ]
    assert document.meta()["pages"] == "3"


def test_pdf_without_title_metadata_takes_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "leaflet.pdf"
    path.write_bytes(minimal_pdf([["Flu leaflet", "Rest and drink fluids."]]))
    assert read_one(path).title == "Flu leaflet"


def test_pdf_encrypted_without_a_user_password_is_read(tmp_path: Path) -> None:
    path = tmp_path / "locked-for-editing.pdf"
    path.write_bytes(encrypted_pdf(user_password=""))
    assert read_one(path).text == "Secret text"


def test_encrypted_pdf_is_skipped_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "secret.pdf"
    path.write_bytes(encrypted_pdf(user_password="secret"))
    assert skip_reason(path) == "PDF is encrypted (needs a password)"


def test_broken_pdf_is_skipped_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    assert skip_reason(path).startswith("cannot read PDF: ")


def test_pdf_without_text_is_skipped_with_reason(tmp_path: Path) -> None:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=612, height=792)
    path = tmp_path / "scan.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    assert skip_reason(path) == "PDF has no extractable text (scanned images?)"


# --- corpus JSON Lines ------------------------------------------------------------------------


def test_corpus_jsonl_keeps_ids_titles_sections_and_offsets() -> None:
    records = [json.loads(line) for line in CORPUS_SAMPLE.read_text().splitlines()]
    report = read(CORPUS_SAMPLE)
    assert report.skipped == ()
    assert len(report.documents) == len(records) == 3
    for document, record in zip(report.documents, records, strict=True):
        assert (document.id, document.title, document.url, document.source) == (
            record["id"],
            record["title"],
            record["url"],
            record["source"],
        )
        assert document.text == record["text"]
        assert [(s.id, s.heading, s.start, s.end) for s in document.sections] == [
            (s["id"], s["heading"], s["start"], s["end"]) for s in record["sections"]
        ]
        if record["synonyms"]:
            assert document.meta() == {
                "path": str(CORPUS_SAMPLE),
                "synonyms": "; ".join(record["synonyms"]),
            }


def test_jsonl_line_without_sections_url_or_source_gets_one_section(tmp_path: Path) -> None:
    path = tmp_path / "mini.jsonl"
    path.write_text(json.dumps({"id": "X_1", "title": "Gout", "text": "Gout is arthritis."}) + "\n")
    document = read_one(path)
    assert (document.url, document.source, document.metadata) == ("", "", (("path", str(path)),))
    assert [(s.id, s.heading, s.start, s.end) for s in document.sections] == [("X_1#1", "", 0, 18)]


GOOD = {
    "id": "T_1",
    "title": "Good",
    "text": "One.\n\nTwo.",
    "sections": [
        {"id": "T_1#1", "heading": "A", "start": 0, "end": 4},
        {"id": "T_1#2", "heading": "B", "start": 6, "end": 10},
    ],
}
BROKEN_LINES = [
    ('{"id": "T_2", "text": ', "not valid JSON (Expecting value at column 22)"),
    (json.dumps({"title": "No id", "text": "x"}), 'missing "id"'),
    (json.dumps({"id": "T_3", "title": "No text"}), 'article T_3 is missing "text"'),
    (
        json.dumps({"id": "bad id/1", "text": "x"}),
        "id 'bad id/1' may only use letters, digits and _ . # -",
    ),
    (
        json.dumps({**GOOD, "id": "T_4", "sections": [{"start": 0, "end": 99}]}),
        "article T_4 section 1 offsets 0-99 are outside the text (length 10)",
    ),
    (
        json.dumps(
            {**GOOD, "id": "T_5", "sections": [{"start": 0, "end": 6}, {"start": 4, "end": 10}]}
        ),
        "article T_5 section 2 overlaps the section before it",
    ),
    (
        json.dumps({**GOOD, "id": "T_6", "sections": [{"start": True, "end": 4}]}),
        "article T_6 section 1 has no whole-number start and end",
    ),
    ("[1, 2]", "not a JSON object"),
]


def test_jsonl_broken_lines_are_skipped_and_good_lines_read(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps(GOOD),
        *(line for line, _ in BROKEN_LINES),
        "",
        json.dumps({**GOOD, "id": "T_9"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    report = read(path)
    assert [d.id for d in report.documents] == ["T_1", "T_9"]
    assert report.skipped == tuple(
        Skipped(f"{path}:{n}", reason) for n, (_, reason) in enumerate(BROKEN_LINES, start=2)
    )


def test_jsonl_line_that_is_not_utf8_is_skipped_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b'\n{"id": "T_2", "text": "caf\xe9"}\n')
    report = read(path)
    assert [d.id for d in report.documents] == ["T_1"]
    assert report.skipped == (Skipped(f"{path}:2", "not valid UTF-8 text"),)


def test_jsonl_line_over_the_size_limit_is_skipped_and_the_rest_read(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    big = json.dumps({**GOOD, "id": "T_2", "text": "x" * 3000, "sections": []})
    path.write_text("\n".join([big, json.dumps(GOOD)]) + "\n")
    report = read(path, max_bytes=1000)
    assert [d.id for d in report.documents] == ["T_1"]
    assert report.skipped == (Skipped(f"{path}:1", "line is over the 0.001 MB limit"),)


def test_same_document_id_in_two_files_is_skipped_with_reason(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(json.dumps(GOOD) + "\n")
    second.write_text(json.dumps(GOOD) + "\n")
    report = read(tmp_path)
    assert len(report.documents) == 1
    assert report.skipped == (
        Skipped(str(second), f"duplicate document id T_1 (first read from {first})"),
    )


# --- bad files --------------------------------------------------------------------------------


def test_binary_file_is_skipped_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert skip_reason(path) == "binary file (contains NUL bytes)"


def test_text_that_is_not_utf8_is_skipped_not_guessed(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Café\n\nLe café est bon.\n".encode("latin-1"))
    assert skip_reason(path) == "not valid UTF-8 text"


def test_utf16_text_is_skipped_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "utf16.txt"
    path.write_text("Title\n\nBody.\n", encoding="utf-16")
    assert skip_reason(path) == "UTF-16 text is not supported; save the file as UTF-8"


@pytest.mark.parametrize(
    "name", ["empty.txt", "empty.md", "empty.html", "empty.pdf", "empty.jsonl"]
)
def test_empty_file_is_skipped_with_reason(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    assert skip_reason(path) == "empty file"


def test_whitespace_only_file_is_skipped_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_text("  \n\n\t\n")
    assert skip_reason(path) == "no text (only whitespace)"


def test_oversized_file_is_skipped_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_bytes(b"Title\n\n" + b"word " * 300_000)
    assert skip_reason(path, max_bytes=1_000_000) == "file is 1.5 MB, over the 1 MB limit"


def test_unreadable_file_is_skipped_with_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "private.txt"
    path.write_text("Title\n\nBody.\n")

    # Tests may run as root, which chmod cannot lock out, so the refusal is simulated.
    def refuse(self: Path) -> bytes:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert skip_reason(path) == "cannot read file: permission denied"


def test_explicit_file_of_unknown_type_is_skipped_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "setup.exe"
    path.write_bytes(b"MZ")
    assert skip_reason(path) == "unsupported file type .exe"


def test_missing_path_is_skipped_with_reason(tmp_path: Path) -> None:
    assert skip_reason(tmp_path / "nope.txt") == "no such file or directory"


def test_broken_symbolic_link_is_skipped_with_reason(tmp_path: Path) -> None:
    (tmp_path / "gone.txt").symlink_to(tmp_path / "deleted.txt")
    report = read(tmp_path)
    assert report.skipped == (Skipped(str(tmp_path / "gone.txt"), "broken symbolic link"),)


def test_named_pipe_is_skipped_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.txt"
    os.mkfifo(path)
    assert skip_reason(path) == "not a regular file"


# --- directories ------------------------------------------------------------------------------


def test_directory_is_walked_in_sorted_order_skipping_unknown_types(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.txt").write_text("Two\n\nSecond file.\n")
    (tmp_path / "a.md").write_text("# One\n\nFirst file.\n")
    (tmp_path / "c.txt").write_text("Three\n\nThird file.\n")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    report = read(tmp_path)
    assert [d.title for d in report.documents] == ["One", "Two", "Three"]
    assert report.skipped == (Skipped(str(tmp_path / "photo.png"), "unsupported file type .png"),)


def test_hidden_files_and_directories_are_ignored_silently(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.txt").write_text("Hidden\n\nNot read.\n")
    (tmp_path / ".draft.txt").write_text("Draft\n\nNot read.\n")
    (tmp_path / "visible.txt").write_text("Visible\n\nRead.\n")
    report = read(tmp_path)
    assert [d.title for d in report.documents] == ["Visible"]
    assert report.skipped == ()


def test_symlink_loop_does_not_hang_and_files_are_read_once(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "note.txt").write_text("Note\n\nRead once.\n")
    (tmp_path / "docs" / "loop").symlink_to(tmp_path / "docs")
    (tmp_path / "docs" / "parent").symlink_to(tmp_path)
    report = read(tmp_path, tmp_path / "docs" / "note.txt")
    assert [d.title for d in report.documents] == ["Note"]
    assert report.skipped == ()


def test_symlink_file_loop_is_skipped_with_reason(tmp_path: Path) -> None:
    (tmp_path / "a.txt").symlink_to(tmp_path / "b.txt")
    (tmp_path / "b.txt").symlink_to(tmp_path / "a.txt")
    report = read(tmp_path)
    assert report.documents == ()
    assert [s.reason for s in report.skipped] == ["too many levels of symbolic links"] * 2


def test_deeply_nested_directory_is_read(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d"] * 60)
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("Bottom\n\nSixty levels down.\n")
    report = read(tmp_path)
    assert [d.title for d in report.documents] == ["Bottom"]


def test_directory_deeper_than_the_limit_is_skipped_with_reason(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d"] * 6)
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("Bottom\n\nToo far down.\n")
    report = read(tmp_path, max_depth=3)
    assert report.documents == ()
    assert report.skipped == (
        Skipped(str(tmp_path.joinpath(*["d"] * 4)), "directory is nested more than 3 levels deep"),
    )


def test_every_fixture_keeps_the_offset_contract(tmp_path: Path) -> None:
    shutil.copytree(DATA, tmp_path / "data")
    (tmp_path / "data" / "guide.pdf").write_bytes(minimal_pdf([["Page one."], ["Page two."]]))
    report = read(tmp_path / "data")
    assert report.skipped == ()
    assert len(report.documents) == 7  # html, md, 3 corpus articles, seed, pdf
