"""Reading a long message: what to search with when a patient writes a story.

Real messages to a medical library are often 100-300 words: who the writer is, what happened,
and the question at the end, sometimes with the condition named only in a subject line. The
embedding model reads 256 word pieces and averages what it reads, and the lexical search is
swamped by story words, so a long message is searched by its focus: the subject line, the
sentences that ask something, and the sentences that name what they ask about (the ones with
the rarest corpus words before the first question).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from medcite.index.text import sentence_spans, terms

# Messages up to this many words are searched as they are.
LONG_MESSAGE_WORDS = 45
# The focus keeps at most this many sentences besides the subject line.
FOCUS_SENTENCES = 4

_SUBJECT = re.compile(r"^\s*(?:subject|re|topic|title)\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_ASKS = re.compile(
    r"\?\s*$|^\W*(?:what|how|why|when|where|which|who|is|are|can|could|should|would|will|do|"
    r"does|did|has|have|any|anything|please|i want to know|i would like to know|wondering)\b",
    re.IGNORECASE,
)


def focus(message: str, idf: Callable[[str], float]) -> str:
    """The text to search with: ``message`` itself when short, else its focus (see above).

    ``idf`` gives a corpus word's inverse document frequency (0 for words the corpus lacks)."""
    if len(message.split()) <= LONG_MESSAGE_WORDS:
        return message
    subject = _SUBJECT.search(message)
    body = message[subject.end() :] if subject else message
    sentences = [body[start:end].strip() for start, end in sentence_spans(body)]
    sentences = [s for s in sentences if s]
    if not sentences:
        return message
    asking = [i for i, s in enumerate(sentences) if _ASKS.search(s)]
    if not asking:
        asking = [len(sentences) - 1]
    naming = sorted(
        (i for i in range(len(sentences)) if i not in asking),
        key=lambda i: -max((idf(t) for t in terms(sentences[i])), default=0.0),
    )
    chosen = set(asking[-(FOCUS_SENTENCES - 1) :])
    for i in naming:
        if len(chosen) >= FOCUS_SENTENCES:
            break
        chosen.add(i)
    parts = [subject.group(1).strip()] if subject else []
    parts += [sentences[i] for i in sorted(chosen)]
    return " ".join(parts)


# A second question run into the first: "is it contagious and how long does it last".
_NEXT_QUESTION = re.compile(
    r"(?<=\?)\s+|(?:[,;]|[,;]?\s+(?:and|also|or|plus))\s+(?=(?:what|how|why|when|where|which|"
    r"who|is|are|can|could|should|would|will|do|does|did)\b)",
    re.IGNORECASE,
)


def asked_parts(text: str) -> list[str]:
    """The questions ``text`` asks, one string each: "is glaucoma treated? will i go blind"
    asks two. Statements (the story) are left out, as are fragments under three words."""
    parts = []
    for start, end in sentence_spans(text):
        for piece in _NEXT_QUESTION.split(text[start:end]):
            piece = piece.strip(" ,;")
            if len(piece.split()) >= 3 and _ASKS.search(piece):
                parts.append(piece)
    return parts
