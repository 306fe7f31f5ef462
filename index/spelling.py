"""Spelling correction against the words the indexed articles actually use.

Patients misspell ("glacoma", "astma", "diabeties"); a misspelled word finds nothing in the
lexical index and embeds badly. A word the articles never use is replaced by the most frequent
article word within a small edit distance; anything else (including names the corpus does not
know at all, such as most drug names) is left as typed."""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Collection, Mapping

from wordfreq import zipf_frequency

from medcite.index.text import stem

_WORD = re.compile(r"[A-Za-z]+")
MIN_LENGTH = 4  # shorter words are too ambiguous to correct
MIN_FREQUENCY = 3  # a correction must be a word used in at least this many passages
SUGGESTIONS_KEPT = 10_000  # remembered corrections, cleared when full
RARE_RATIO = 20  # a rare known word gives way only to a neighbour this many times as common
# A word this long is a correction however few passages use it ("plurisy" is "pleurisy", in
# two passages): long words have few neighbours, so a near one is what was meant.
LONG_WORD = 8
# Once in a million words of English (wordfreq's Zipf scale: log10 of uses per billion).
COMMON_ZIPF = 3.0


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a swap of neighbours counts 1), or limit + 1 when it
    is larger than ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def allowed_distance(word: str) -> int:
    """Two edits in six letters or fewer is a third of the word: "tarsal" is not a typo of
    "tartar", nor "excema" of "edema"."""
    return 1 if len(word) <= 6 else 2


class Speller:
    """Corrects words against a vocabulary of word -> passage frequency."""

    def __init__(
        self,
        vocabulary: Mapping[str, int],
        everyday: Collection[str] = frozenset(),
        names: Collection[str] = frozenset(),
    ) -> None:
        """``everyday``: common words (``everyday_words``), never taken for typos; and two edits
        from a word the articles never use is too far to reach one: "tarsal" is not "trial".
        ``names``: the lower-case words of the articles' titles, the names patients try to
        spell: never taken for typos ("swine" is not "spine", though only the two passages of
        "H1N1 Flu (Swine Flu)" use it) and always a candidate ("amaloidosis" is
        "amyloidosis", though its one article has two passages)."""
        self.vocabulary = vocabulary
        self.everyday = everyday
        # A title word, or a form of one ("ushers" of "usher", not a typo of "users"), is kept.
        self._name_stems = frozenset(stem(name) for name in names)
        # Passages using each word family ("snore", "snores" -> "snore"), an upper bound.
        self._families: dict[str, int] = defaultdict(int)
        for word, df in vocabulary.items():
            self._families[stem(word)] += df
        self._suggestions: dict[str, str | None] = {}
        # Candidates by first letter: a typo rarely changes the first letter.
        self._by_initial: dict[str, list[tuple[str, int]]] = defaultdict(list)
        # Every article word by first letter, however rare: what ``near_known`` compares with.
        self._all_by_initial: dict[str, list[str]] = defaultdict(list)
        for word, df in vocabulary.items():
            usable = df >= MIN_FREQUENCY or word in names or len(word) >= LONG_WORD
            if usable and word.isalpha() and len(word) >= MIN_LENGTH - 1:
                self._by_initial[word[0]].append((word, df))
            if word.isalpha() and len(word) >= MIN_LENGTH:
                self._all_by_initial[word[0]].append(word)

    def suggest(self, word: str) -> str | None:
        """The correction of a lower-case ``word``, or None to keep it.

        A word the articles use only once or twice may itself be a typo in an article
        ("symtoms"): it is corrected only to a neighbour used far more often. Answers are
        remembered: the same question is corrected by ask and again by search.

        Safe to call from many threads at once: another thread may clear the memory at any
        moment, so the answer returned is the one computed or read here, never read back."""
        try:
            return self._suggestions[word]
        except KeyError:
            pass
        suggestion = self._closest(word)
        if len(self._suggestions) >= SUGGESTIONS_KEPT:
            self._suggestions.clear()
        self._suggestions[word] = suggestion
        return suggestion

    def _closest(self, word: str) -> str | None:
        known = self.vocabulary.get(word, 0)
        if len(word) < MIN_LENGTH or not word.isalpha() or known >= MIN_FREQUENCY:
            return None
        # A word the model's vocabulary holds whole is English, not a typo: "teacher" is not
        # "trachea", nor "cancel" "cancer", nor "wife" "wide", though no article uses it.
        if word in self.everyday or stem(word) in self._name_stems:
            return None
        # A rare form of a family the articles use is a real word: "snores" (2 passages, with
        # "snore" in 7) is not a typo of "sores", nor "snored" (none; "snoring" in 18) of "stored".
        if self._families.get(stem(word), 0) >= MIN_FREQUENCY:
            return None
        limit = allowed_distance(word) if not known else 1
        best: tuple[int, int, str] | None = None  # (distance, -frequency, word)
        for candidate, df in self._by_initial.get(word[0], ()):
            if abs(len(candidate) - len(word)) > limit:
                continue
            # A typist drops letters, rarely adds two: a word two letters longer than an
            # article word is another word ("melatonin" is not "melanin", "osteitis" not
            # "otitis", "overreacting" not "overeating"; 18 of 18 such corrections of the
            # real-style and dev questions were wrong).
            if len(candidate) <= len(word) - 2:
                continue
            distance = edit_distance(word, candidate, limit)
            if distance > 1 and candidate in self.everyday:
                continue
            if distance <= limit and (best is None or (distance, -df, candidate) < best):
                best = (distance, -df, candidate)
        if best is None or (known and -best[1] < RARE_RATIO * known):
            return None
        return best[2]

    def near_known(self, word: str) -> bool:
        """Whether lower-case ``word`` is an article word or a misspelling of one: within
        ``allowed_distance`` of a word some article uses, however rarely ("murmer" of
        "murmur", "billiary" of "biliary"; not "emfasema", three edits from "emphysema").
        ``suggest`` is stricter, as it rewrites the question; this only tells a typo from a
        name no article knows."""
        if word in self.vocabulary:
            return True
        if len(word) < MIN_LENGTH + 1 or not word.isalpha():
            return False
        limit = allowed_distance(word)
        return any(
            abs(len(candidate) - len(word)) <= limit
            and edit_distance(word, candidate, limit) <= limit
            for candidate in self._all_by_initial.get(word[0], ())
        )

    def correct(self, text: str) -> str:
        """``text`` with unknown words replaced by their corrections, all else kept as typed."""

        def replace(match: re.Match[str]) -> str:
            suggestion = self.suggest(match.group(0).lower())
            return suggestion if suggestion else match.group(0)

        return _WORD.sub(replace, text)

    def unknown_words(self, text: str) -> list[str]:
        """Words of ``text`` (lower-cased) that the articles never use."""
        return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in self.vocabulary]


def common_english(word: str) -> bool:
    """Whether ``word`` is used at least once in a million words of English writing
    (``COMMON_ZIPF``, wordfreq's "small" list of about 29,000 words, from subtitles, books,
    news and the web): "coworker", "chemo", "shorten", "instagram", though the model's
    word pieces split them; not "psoriasis", "melatonin" or "lisinopril"."""
    return zipf_frequency(word, "en", wordlist="small") >= COMMON_ZIPF


@functools.cache
def everyday_words() -> frozenset[str]:
    """The whole words of the embedding model's word-piece vocabulary: about 20,000 common
    English words ("kids", "trial", "block"), none of them a rare disease or drug name. Empty
    if the vocabulary cannot be read."""
    try:
        from medcite.index.onnx_encoder import model_dir

        lines = (model_dir() / "vocab.txt").read_text(encoding="utf-8").split()
    except (OSError, ImportError):
        return frozenset()
    return frozenset(line for line in lines if line.isalpha())
