"""Typed, user-facing errors.

Every mistake a user can make (bad data, unknown attribute, unreachable model, a callable that
returns the wrong thing) raises a subclass of :class:`RMXError` whose message alone tells the
user what went wrong and what to do. The CLI prints that message and exits non-zero instead of
showing a traceback, so messages must be complete sentences that name the file, row and field.
"""

from __future__ import annotations


class RMXError(Exception):
    """Base of every error rmx-widgets raises on purpose (as opposed to a bug)."""


class DataError(RMXError):
    """Input comparisons are malformed; the message names the source, the row and the field."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.source, self.row, self.field = source, row, field
        where = []
        if source:
            where.append(str(source))
        if row is not None:
            where.append(f"row {row}")
        if field:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class AttributeSpecError(RMXError):
    """An attribute name is unknown or an attribute definition is unusable."""


class RewardModelError(RMXError):
    """A reward model could not be loaded or returned unusable scores."""


class PerturberError(RMXError):
    """A perturber could not be configured or cannot run at all (not a per-row failure)."""


class AuthenticationError(PerturberError):
    """The LLM server rejected the API key; retrying cannot help."""


class StoreError(RMXError):
    """The SQLite store cannot be opened or was written by an incompatible version."""


class OptionError(RMXError, ValueError):
    """An option (a keyword argument of the API or a CLI flag) is outside its valid range; also a
    ``ValueError``, as it was before it became an ``RMXError``."""


class OutputError(RMXError):
    """An output path cannot be used: it is an input, a file rmx did not write (without
    ``force``), or a folder another run is writing."""


class OutputBusyError(OutputError):
    """The output folder is locked by another run (the message names its pid, host and start)."""
