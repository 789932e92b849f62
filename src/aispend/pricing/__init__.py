"""The price book (genai-prices + overrides) and the bulk pricer."""

from __future__ import annotations

from .apply import Pricer
from .book import PriceBook

__all__ = ["PriceBook", "Pricer"]
