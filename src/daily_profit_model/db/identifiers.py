"""Validation of SQL identifiers that come from configuration.

Values always travel as bound parameters; identifiers (schemas, tables, columns) cannot,
so they are checked against a strict pattern and then quoted by ``psycopg.sql``.
"""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class InvalidIdentifierError(ValueError):
    """A configured schema, table or column name is not a safe SQL identifier."""


def validate_identifier(name: str, what: str) -> str:
    """Return ``name`` if it is a lower-case SQL identifier of at most 63 characters.

    Args:
        name: The identifier to check.
        what: What the identifier names (``"table"``, ``"column"``), for the error.

    Raises:
        InvalidIdentifierError: ``name`` has characters other than ``a-z0-9_``, starts
            with a digit, or is longer than PostgreSQL's 63-character limit.
    """
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise InvalidIdentifierError(
            f"Invalid {what} name {name!r}: use lower-case letters, digits and "
            f"underscores, starting with a letter or underscore, at most 63 characters."
        )
    return name
