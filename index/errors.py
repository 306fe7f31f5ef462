"""Errors written for the user. The CLI and the web layer map them to exit and status codes."""


class MedciteError(Exception):
    """Base class: the message is shown to the user as it is."""


class IndexMissingError(MedciteError):
    """There is no index where one was expected."""


class IndexCorruptError(MedciteError):
    """An index file failed its checksum or could not be read."""


class IndexMismatchError(MedciteError):
    """The index was built by another format or embedding model."""


class InputError(MedciteError):
    """A request or argument that cannot be served as given."""


class NotFoundError(MedciteError):
    """A document or passage that is not in the index."""
