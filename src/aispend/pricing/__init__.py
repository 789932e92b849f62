"""The price book (genai-prices + overrides) and the bulk pricer."""

from __future__ import annotations

from .apply import Pricer
from .book import PriceBook
from .reprice import reprice

__all__ = ["PriceBook", "Pricer", "reprice"]
