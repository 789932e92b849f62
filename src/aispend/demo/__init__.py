"""`aispend demo`: a realistic multi-vendor AI bill, generated from a seed and loaded for real.

:func:`build_plan` (pure) writes the vendor files' text; :func:`run_demo` writes them into a work
directory and imports each one through :func:`aispend.ingest.import_file`.
"""

from __future__ import annotations

from .generate import DemoFile, DemoPlan, build_plan
from .run import DemoResult, run_demo

__all__ = ["DemoFile", "DemoPlan", "DemoResult", "build_plan", "run_demo"]
