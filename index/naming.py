"""Which articles a message names: by title or by one of the corpus's synonyms.

A patient who writes "german measles", "brittle bone disease", "pink eye" or "PKU" has named
an article (Rubella, Osteogenesis Imperfecta, Pinkeye, Phenylketonuria) even when the article
rarely uses those words, so neither the lexical nor the dense search ranks it first. A name
counts when the message holds it as a phrase (words compared by stem, and also run together:
"pink eye" is "pinkeye"); a one-word name that is an everyday English word ("Pregnancy",
"Fever", the synonym "Coke" of Cocaine) says too little on its own and is left to the search,
a three-letter acronym ("ALL", "AML") counts only when typed in capitals, and a shorter one
("MI", "MS", "C") not at all. A name inside a longer
one the message also holds ("macular degeneration" in "age-related macular degeneration")
gives way to it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from medcite.index.text import stem, word_matches

# The longest name looked for, in words.
NAME_WORDS = 6
# An acronym this long must be typed in capitals ("ALL" of Acute Lymphocytic Leukemia); a
# shorter one ("MD", "ED", "C") names nothing.
SHORT_ACRONYM = 3
_PARENTHESIS = re.compile(r"\(([^)]*)\)")


@dataclass(frozen=True)
class Names:
    """Article names by their key (the stems of their words, space-joined) and the acronyms
    that must be typed in capitals: what ``named_articles`` looks up."""

    phrases: Mapping[str, frozenset[str]]  # key -> doc ids
    acronyms: Mapping[str, frozenset[str]]  # "ALL" -> doc ids


def synonyms_of(metadata: Mapping[str, str]) -> tuple[str, ...]:
    """The synonyms a document's metadata lists (ingest joins them with "; ")."""
    return tuple(s.strip() for s in metadata.get("synonyms", "").split(";") if s.strip())


def names_of(
    titles: Iterable[tuple[str, str, Collection[str]]], everyday: Collection[str]
) -> Names:
    """``Names`` of articles given as (doc id, title, synonyms)."""
    phrases: dict[str, set[str]] = {}
    acronyms: dict[str, set[str]] = {}
    for doc_id, title, synonyms in titles:
        for name in _variants(title, synonyms):
            tokens = [m.group(0) for m in word_matches(name)]
            if not tokens or len(tokens) > NAME_WORDS:
                continue
            lower = [t.lower() for t in tokens]
            if len(tokens) == 1 and tokens[0].isalpha() and len(tokens[0]) <= SHORT_ACRONYM:
                if tokens[0].isupper() and len(tokens[0]) == SHORT_ACRONYM:
                    acronyms.setdefault(tokens[0], set()).add(doc_id)
                continue
            if len(lower) == 1 and lower[0].isalpha() and lower[0] in everyday:
                continue
            phrases.setdefault(_key(lower), set()).add(doc_id)
            if len(lower) > 1:  # "pinkeye" typed "pink eye", or "pink eye" typed "pinkeye"
                phrases.setdefault(_key(["".join(lower)]), set()).add(doc_id)
    return Names(
        {key: frozenset(ids) for key, ids in phrases.items()},
        {key: frozenset(ids) for key, ids in acronyms.items()},
    )


def _variants(title: str, synonyms: Collection[str]) -> set[str]:
    """A title, the title without its parentheses and what they hold ("Enlarged Prostate
    (BPH)": "Enlarged Prostate", "BPH"), its parts around "--", and each synonym."""
    names = {title, *synonyms}
    for part in title.split("--"):
        names.add(part)
        names.add(_PARENTHESIS.sub(" ", part))
        names.update(_PARENTHESIS.findall(part))
    return {" ".join(name.split()) for name in names if name.strip()}


def _key(tokens: list[str]) -> str:
    return " ".join(stem(t) for t in tokens)


def named_articles(text: str, names: Names) -> frozenset[str]:
    """The doc ids of the articles ``text`` names (see the module docstring)."""
    tokens = [m.group(0) for m in word_matches(text)]
    lower = [t.lower() for t in tokens]
    stems = [stem(t) for t in lower]  # each word stemmed once, not once per phrase
    found: list[tuple[int, int, frozenset[str]]] = []  # (start, end, doc ids)
    for i, token in enumerate(tokens):
        if token in names.acronyms:
            found.append((i, i + 1, names.acronyms[token]))
        for j in range(i + 1, min(i + NAME_WORDS, len(tokens)) + 1):
            for key in {" ".join(stems[i:j]), stem("".join(lower[i:j]))}:
                if key in names.phrases:
                    found.append((i, j, names.phrases[key]))
    kept: set[str] = set()
    for start, end, doc_ids in found:
        inside_longer = any(
            s <= start and end <= e and (e - s) > (end - start) for s, e, _ in found
        )
        if not inside_longer:
            kept |= doc_ids
    return frozenset(kept)
