"""The ``aispend`` command: parse options, call one library function, print.

``common`` holds the app and what commands share; each other module adds the commands of one
subject. Importing them here registers them, in the order ``--help`` lists them.
"""

from __future__ import annotations

from . import fx, ledger, sources  # noqa: F401 - registers the commands
from .common import app, main

__all__ = ["app", "main"]
