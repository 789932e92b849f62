"""File imports: format detection, pure normalizers (FOCUS, mapped CSV) and the loading runner."""

from __future__ import annotations

from .detect import FORMATS, detect
from .runner import ImportResult, import_file

__all__ = ["FORMATS", "ImportResult", "detect", "import_file"]
