"""medcite: answers health questions only with verbatim, cited quotes from medical articles.

The installed packages are ``medcite.ingest``, ``medcite.index``, ``medcite.chat`` and
``medcite.web`` (the repository's top-level folders of the same names). For scripts::

    import medcite
    with medcite.open_index("path/to/index") as index:
        answer = index.ask("how is glaucoma treated?")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medcite.chat.api import MedciteIndex

__all__ = ["open_index"]


def open_index(path, **options) -> MedciteIndex:  # type: ignore[no-untyped-def]
    """See ``medcite.chat.api.open_index`` (imported here on first use, so that importing
    ``medcite`` stays cheap for the CLI)."""
    from medcite.chat.api import open_index as open_with_model

    return open_with_model(path, **options)
