"""Sign-offs: the short lines that end many articles and say who published them.

Most MedlinePlus articles end with their source ("NIH: National Eye Institute", "Centers for
Disease Control and Prevention"). A sign-off answers nothing, yet the sentence splitter makes
it a sentence of the last passage, so it was quoted: at the end of a first quote ("...antibiotic
eye drops or ointment. NIH: National Eye Institute") and, for "my aunt has scleroderma, what is
that", as the whole answer. They are learned from the corpus, not listed: a line of at most
``MAX_WORDS`` words, not ended by a full stop, question or exclamation mark, that ends at least
``MIN_DOCUMENTS`` documents. In the bundled quickstart corpus that finds the 24 agency lines
and nothing else; in the full corpus also "More on: Handwashing", "- Palliative Care" and
"[1] [2]". Short sentences that end several articles and do say something ("Treatment depends
on the cause.") end with a full stop, and longer ones are longer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from medcite.index.text import sentence_spans

MAX_WORDS = 12
MIN_DOCUMENTS = 3
# Enough of a document's end to hold its last sentence.
TAIL_CHARS = 400


def normalised(sentence: str) -> str:
    """A sentence as sign-offs are compared: its words, single-spaced."""
    return " ".join(sentence.split())


def last_sentence(text: str) -> str:
    """The last sentence of ``text`` (or of its last ``TAIL_CHARS`` characters), normalised."""
    tail = text[-TAIL_CHARS:]
    spans = sentence_spans(tail)
    return normalised(tail[spans[-1][0] : spans[-1][1]]) if spans else ""


def sign_offs(tails: Iterable[str]) -> frozenset[str]:
    """The sign-offs among the documents' last sentences, normalised; ``tails`` are the
    documents' last ``TAIL_CHARS`` characters (or their whole texts)."""
    endings = (last_sentence(tail) for tail in tails)
    counts = Counter(s for s in endings if s and len(s.split()) <= MAX_WORDS and s[-1] not in ".?!")
    return frozenset(s for s, n in counts.items() if n >= MIN_DOCUMENTS)
