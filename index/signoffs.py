"""Sign-offs: the short lines that end many articles and say who published them.

Most MedlinePlus articles end with their source ("NIH: National Eye Institute", "Centers for
Disease Control and Prevention"). A sign-off answers nothing, yet the sentence splitter makes
it a sentence of the last passage, so it was quoted: at the end of a first quote ("...antibiotic
eye drops or ointment. NIH: National Eye Institute") and, for "my aunt has scleroderma, what is
that", as the whole answer. They are learned from the corpus, not listed: a document's last
line of at most ``MAX_WORDS`` words, not ended by a full stop, question or exclamation mark,
that either ends at least ``MIN_DOCUMENTS`` documents or is written like a name (every word
capitalised but the small ones: "Bureau of Labor Statistics", which ends two). In the bundled
quickstart corpus that finds the 48 agency lines and nothing else; in the full corpus also
"More on: Handwashing", "- Palliative Care" and "[1] [2]". Short sentences that end several
articles and do say something ("Treatment depends on the cause.") end with a full stop, and
longer ones are longer.

A sign-off is often glued to the sentence before it, when that one is a list item or ends
with an abbreviation ("- Get enough exercise NIH: National Heart, Lung, and Blood
Institute"): ``sign_off_at`` finds it there too, so the quote can stop before it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable

from medcite.index.text import sentence_spans, word_spans

MAX_WORDS = 12
MIN_DOCUMENTS = 3
# Enough of a document's end to hold its last sentence.
TAIL_CHARS = 400
# Words a name leaves in lower case ("Administration on Aging").
SMALL_WORDS = frozenset(
    ["a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "the", "to", "with", "&"]
)


def normalised(sentence: str) -> str:
    """A sentence as sign-offs are compared: its words, single-spaced."""
    return " ".join(sentence.split())


def last_sentence(text: str) -> str:
    """The last sentence of ``text`` (or of its last ``TAIL_CHARS`` characters), normalised."""
    tail = text[-TAIL_CHARS:]
    spans = sentence_spans(tail)
    return normalised(tail[spans[-1][0] : spans[-1][1]]) if spans else ""


def written_like_a_name(line: str) -> bool:
    """Two or more words, each capitalised or small, not a list item or an aside."""
    words = line.split()
    if len(words) < 2 or line[0] in "-•*([":
        return False
    return all(w in SMALL_WORDS or w.lstrip("\"'“(")[:1].isupper() for w in words)


def sign_offs(tails: Iterable[str]) -> frozenset[str]:
    """The sign-offs among the documents' last sentences, normalised; ``tails`` are the
    documents' last ``TAIL_CHARS`` characters (or their whole texts)."""
    endings = (last_sentence(tail) for tail in tails)
    counts = Counter(s for s in endings if s and len(s.split()) <= MAX_WORDS and s[-1] not in ".?!")
    return frozenset(s for s, n in counts.items() if n >= MIN_DOCUMENTS or written_like_a_name(s))


def sign_off_at(sentence: str, sign_offs: Collection[str]) -> int | None:
    """Where the longest sign-off that ends ``sentence`` starts (0: the sentence is one);
    None when it ends with none."""
    if not sign_offs or not sentence or sentence[-1] in ".?!":
        return None
    spans = word_spans(sentence, 0, len(sentence))
    found = None
    for n in range(1, min(MAX_WORDS, len(spans)) + 1):
        if " ".join(sentence[s:e] for s, e in spans[-n:]) in sign_offs:
            found = spans[-n][0]
    return found
