"""Exports: ledger rows as CSV or Parquet, or projected to FOCUS 1.2 and checked.

    export(store, "focus", Path("sept.csv"), filters={"provider": "aws"}, start=..., end=...)
"""

from __future__ import annotations

from .focus_check import Problem, check_focus_file
from .writers import FORMATS, ExportResult, build_where, export

__all__ = ["FORMATS", "ExportResult", "Problem", "build_where", "check_focus_file", "export"]
