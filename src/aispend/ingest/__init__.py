"""File imports: format detection, pure normalizers (FOCUS, mapped CSV) and the loading runner."""

from __future__ import annotations

from .detect import detect, formats
from .runner import ImportResult, import_file

__all__ = ["ImportResult", "detect", "formats", "import_file"]
