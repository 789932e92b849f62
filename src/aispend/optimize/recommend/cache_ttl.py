"""Cache TTL: 5-minute vs 1-hour cache writes, where the write/read pattern favours the other.

Anthropic sells two cache lifetimes: a 5-minute write at 1.25x the input price and a 1-hour write
at 2x. Which is cheaper depends on how often a prefix is re-written because it expired, which
needs the writes split by TTL (genai-prices prices ``cache_write_1h`` separately). The ledger has
one ``cache_write_tokens`` column and no per-call timing, so this kind says why it cannot look
instead of guessing. It starts looking the day the ledger carries the split
(a ``cache_write_1h_tokens`` column).
"""

from __future__ import annotations

from ...schema import COLUMN_NAMES
from .base import Context, Kind, Recommendation

SPLIT_COLUMN = "cache_write_1h_tokens"


class CacheTTL(Kind):
    name = "cache-ttl"
    summary = "5-minute vs 1-hour prompt-cache writes."

    def unavailable(self, ctx: Context) -> str | None:
        if SPLIT_COLUMN not in COLUMN_NAMES:
            return ("skipped: the ledger has one cache_write_tokens column, not 5-minute and 1-hour writes apart, "
                    "so the write/read pattern by TTL cannot be measured (docs/optimize.md)")
        return None

    def find(self, ctx: Context) -> list[Recommendation]:
        return []  # reached only once the ledger splits writes by TTL; see the module docstring
