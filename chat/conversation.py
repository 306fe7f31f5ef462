"""Conversation state, held server-side: only the last topic, with expiry and a size cap.

Question text is never stored here, only the title and id of the article last answered from."""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from medcite.chat.types import Topic

# Words that point back at something said before ("what are its symptoms?").
_BACK_REFERENCE = re.compile(
    r"\b(it|its|it's|itself|this|that|these|those|they|them|their|the (condition|disease|"
    r"disorder|illness|syndrome|problem))\b",
    re.IGNORECASE,
)


def resolve_follow_up(question: str, topic: Topic | None) -> str:
    """The question as retrieval should see it: a back-reference gets the earlier topic."""
    if topic is None or not _BACK_REFERENCE.search(question):
        return question
    if topic.title.lower() in question.lower():
        return question
    return f"{question} ({topic.title})"


class ConversationStore:
    """The last topic of each conversation, forgotten after ``ttl`` seconds idle; the least
    recently used conversations are dropped beyond ``capacity``."""

    def __init__(
        self,
        ttl: float = 30 * 60,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, Topic]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conversation_id: str) -> Topic | None:
        with self._lock:
            item = self._items.get(conversation_id)
            if item is None:
                return None
            seen, topic = item
            if self._clock() - seen > self.ttl:
                del self._items[conversation_id]
                return None
            return topic

    def remember(self, conversation_id: str, topic: Topic) -> None:
        with self._lock:
            self._items[conversation_id] = (self._clock(), topic)
            self._items.move_to_end(conversation_id)
            now = self._clock()
            while self._items:
                oldest_id, (seen, _) = next(iter(self._items.items()))
                if len(self._items) > self.capacity or now - seen > self.ttl:
                    del self._items[oldest_id]
                else:
                    break

    def __len__(self) -> int:
        return len(self._items)
