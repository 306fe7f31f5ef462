"""The text rules every layer shares: sentences, word tokens, stems, stopwords, document ids and
section labels. Ingest chunks with them, the store indexes with them, chat weighs and quotes with
them and the web highlights with them, so all agree on what a word is."""

from __future__ import annotations

import re
from collections.abc import Iterator

# Words that carry no topic. Full-text queries leave them out (an OR of them would match
# everything), and so do quote weights and search highlighting.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "s",
        "t",
        "don",
        "doesn",
    ]
)

# Document ids: corpus ids ("GARD_0000004") and file ids ("f-1a2b..."), and the section ids made
# from them ("GARD_0000004#2"). Only these characters, so an id is safe in a URL or a path.
DOC_ID = re.compile(r"[A-Za-z0-9_.#-]+")

# Abbreviations after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset(
    [
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "u.s",
        "no",
        "fig",
        "approx",
        "al",
        "jr",
        "sr",
        "inc",
        "dept",
        "ca",
    ]
)
# A sentence ends at . ! ? (optionally followed by closing quotes or brackets) and whitespace;
# a flattened bullet (" - " before a capital letter) and a blank line also end one.
_BOUNDARY = re.compile(
    r"""[.!?]["')\]]*\s+(?=["'(\[]?[A-Z0-9])|\s-\s(?=[A-Z])|\n\s*\n|\n(?=\s*[-*•]\s)"""
)
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` into sentences; returns absolute (start, end) spans with
    surrounding whitespace trimmed. The spans cover every non-space character in order."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _BOUNDARY.finditer(text, start, end):
        token = match.group(0)
        if token[0] in ".!?":
            if _is_abbreviation(text, cursor, match.start()):
                continue
            cut = next_start = match.start() + len(token.rstrip())
        elif token.strip() == "-":  # a flattened bullet starts the next sentence
            cut, next_start = match.start(), match.start() + token.index("-")
        else:
            cut, next_start = match.start(), match.end()
        _add_trimmed(spans, text, cursor, cut)
        cursor = next_start
    _add_trimmed(spans, text, cursor, end)
    return spans


def _is_abbreviation(text: str, sentence_start: int, dot: int) -> bool:
    word_start = dot
    while word_start > sentence_start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:dot].lower().lstrip("(\"'")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _add_trimmed(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters and digits)."""
    return [w.lower() for w in _WORD.findall(text)]


def word_matches(text: str) -> Iterator[re.Match[str]]:
    """The word tokens of ``text`` where they occur, as written (``words`` lower-cases them)."""
    return _WORD.finditer(text)


_SPACED = re.compile(r"\S+")


def word_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Absolute spans of whitespace-separated words in ``text[start:end]``."""
    return [(m.start(), m.end()) for m in _SPACED.finditer(text, start, end)]


def section_label(title: str, heading: str) -> str:
    """What a section is about, as a reader would name it: "Glaucoma — Treatment"."""
    return f"{title} — {heading}" if heading else title


# Plurals that add -es to a word ending in a hiss: "rashes", "glasses", "patches", "reflexes".
_ES_PLURALS = ("sses", "shes", "tches", "nches", "rches", "xes", "zzes")


def stem(word: str) -> str:
    """A light stemmer, enough to match plurals, possessives and -ing/-ed forms ("symptoms" ~
    "symptom", "Parkinson's" ~ "parkinsons")."""
    if word.endswith(("'s", "’s")):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith(("ing", "ed")):
        return word[:-3] if word.endswith("ing") else word[:-2]
    # "rashes" is "rash" and "illnesses" "illness", not "rashe" and "illnesse"; "headaches"
    # keeps its e ("headache"), as -ches after a vowel is usually a word in -che.
    if len(word) > 4 and word.endswith(_ES_PLURALS):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Stemmed word tokens, the unit of lexical evidence in quote selection and idf."""
    return [stem(w) for w in words(text)]


def topic_terms(text: str) -> list[str]:
    """The stemmed words of ``text`` that are not stopwords, in order: what a question asks
    about, for quote weights and search highlighting."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


# What follows the apostrophe of a contraction: "what's", "don't", "can't", "they're".
_CLITICS = ("nt", "re", "ve", "ll", "s", "d", "m", "t")


def apostrophe_dropped(word: str) -> bool:
    """Whether lower-case ``word`` is a stopword and a clitic typed without the apostrophe:
    "whats", "dont", "doesnt", "cant", "theyre" (not a name the articles lack)."""
    return any(word.endswith(ending) and word[: -len(ending)] in STOPWORDS for ending in _CLITICS)
