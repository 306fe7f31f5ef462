"""medcite: answers health questions only with verbatim, cited quotes from medical articles.

The installed packages are ``medcite.ingest``, ``medcite.index``, ``medcite.chat`` and
``medcite.web`` (the repository's top-level folders of the same names).
"""
