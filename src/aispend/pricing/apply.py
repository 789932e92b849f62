"""Price ledger rows in bulk: one SQL join per Arrow batch against the flattened book.

Sets ``model`` (canonical), ``list_cost_usd``, ``pricing_status`` and ``cost_usd``:

* billed rows: ``cost_usd = billed_cost x USD rate`` of the billing currency on the row's day (the
  latest dated rate at most ``fx.MAX_AGE_DAYS`` old, else the undated ``[pricing.fx]`` rate, else
  NULL), exact: the product is taken in 256-bit decimals and rounded half-even to 18 places;
* estimated rows (usage without a bill): ``cost_usd = list cost x (1 - provider discount)``;
* allocated rows keep their ``cost_usd``.

A row with tokens whose model the book does not know gets ``pricing_status = 'unpriced'`` and a
NULL list cost: never $0.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..fx import FX_SCHEMA, MAX_AGE_DAYS
from ..schema import ARROW_SCHEMA, MONEY_ARROW, MONEY_SQL
from .book import PriceBook

RATE_SQL = "DECIMAL(20, 10)"  # discount multipliers
_TOKENS = "coalesce(s.input_tokens, 0) + coalesce(s.output_tokens, 0)"

_COMPONENTS_SQL = f"""
WITH s AS (
  SELECT *,
    coalesce(service_tier, 'standard') AS _tier,
    -- Input tokens per request pick the long-context tier; with no request count the row's
    -- per-request size is unknown, and the base tier is the one that does not invent a surcharge.
    CASE WHEN requests IS NULL THEN 0 ELSE coalesce(input_tokens, 0) // greatest(requests, 1) END AS _tpr
  FROM _pricing_in
),
j AS (
  SELECT s.*,
    m.model_id AS _model_id,
    coalesce(o.input_ppt, p.input_ppt) AS _in_p,
    coalesce(o.output_ppt, p.output_ppt) AS _out_p,
    coalesce(o.cache_read_ppt, p.cache_read_ppt) AS _cr_p,
    coalesce(o.cache_write_ppt, p.cache_write_ppt) AS _cw_p,
    coalesce(o.reasoning_ppt, p.reasoning_ppt) AS _rs_p,
    coalesce(o.request_pp, p.request_pp) AS _req_p,
    o.provider IS NOT NULL AS _override
  FROM s
  LEFT JOIN _pricing_models m
    ON m.provider IS NOT DISTINCT FROM s.provider
   AND m.publisher IS NOT DISTINCT FROM s.publisher
   AND m.model_raw = s.model_raw
  LEFT JOIN _pricing_book p
    ON p.book_provider = m.book_provider AND p.model_id = m.model_id AND p.service_tier = s._tier
   AND (p.valid_from IS NULL OR s.period_start >= p.valid_from)
   AND (p.valid_to IS NULL OR s.period_start < p.valid_to)
   AND s._tpr > p.tier_lo AND (p.tier_hi IS NULL OR s._tpr <= p.tier_hi)
  LEFT JOIN _pricing_overrides o
    ON o.provider = s.provider AND o.model = coalesce(m.model_id, s.model_raw) AND o.service_tier = s._tier
   AND (o.valid_from IS NULL OR s.period_start >= o.valid_from)
   AND (o.valid_to IS NULL OR s.period_start < o.valid_to)
)
SELECT j.*,
  ({_TOKENS.replace('s.', 'j.')}) > 0 AND (_in_p IS NOT NULL OR _out_p IS NOT NULL) AS _priced,
  CAST(
      (coalesce(input_tokens, 0)
        - CASE WHEN _cr_p IS NULL THEN 0 ELSE coalesce(cache_read_tokens, 0) END
        - CASE WHEN _cw_p IS NULL THEN 0 ELSE coalesce(cache_write_tokens, 0) END) * coalesce(_in_p, 0)
    + coalesce(cache_read_tokens, 0) * coalesce(_cr_p, 0)
    + coalesce(cache_write_tokens, 0) * coalesce(_cw_p, 0)
  AS {MONEY_SQL}) AS _list_input_usd,
  CAST(
      (coalesce(output_tokens, 0)
        - CASE WHEN _rs_p IS NULL THEN 0 ELSE coalesce(reasoning_tokens, 0) END) * coalesce(_out_p, 0)
    + coalesce(reasoning_tokens, 0) * coalesce(_rs_p, 0)
  AS {MONEY_SQL}) AS _list_output_usd,
  CAST(coalesce(requests, 0) * coalesce(_req_p, 0) AS {MONEY_SQL}) AS _list_requests_usd
FROM j
"""

# The total once, in its own layer: DECIMAL(38) arithmetic is 128-bit and not cheap.
_TOTALS_SQL = f"SELECT *, _list_input_usd + _list_output_usd + _list_requests_usd AS _list_usd FROM ({_COMPONENTS_SQL})"

_REPLACED = {
    "model": "coalesce(c._model_id, c.model_raw, c.model)",
    "list_cost_usd": "CASE WHEN c._priced THEN c._list_usd ELSE c.list_cost_usd END",
    "pricing_status": (
        "CASE WHEN c._priced AND c._override THEN 'override' WHEN c._priced THEN 'priced' "
        f"WHEN ({_TOKENS.replace('s.', 'c.')}) > 0 THEN 'unpriced' ELSE 'none' END"
    ),
    "cost_usd": (
        "CASE c.cost_source "
        # USD passes through untouched; other currencies are converted in Arrow (``_fx_rate``): the
        # exact product of two DECIMAL(38, 18) needs 36 decimals, more than DECIMAL(38) can hold.
        "WHEN 'billed' THEN CASE WHEN upper(c.billing_currency) = 'USD' THEN c.billed_cost END "
        "WHEN 'estimated' THEN CASE WHEN NOT c._priced THEN NULL WHEN d.multiplier IS NULL THEN c._list_usd "
        f"ELSE CAST(c._list_usd * CAST(d.multiplier AS {RATE_SQL}) AS {MONEY_SQL}) END "
        "ELSE c.cost_usd END"
    ),
}

# Only the columns pricing reads travel through the joins; the four it sets are put back into
# the caller's table by position (``_idx``), so wide rows cost no more to price than narrow ones.
_INPUTS = (
    "provider", "publisher", "model_raw", "model", "service_tier", "period_start", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "requests",
    "billed_cost", "billing_currency", "cost_source", "cost_usd", "list_cost_usd",
)
_OUTPUTS = ("model", "list_cost_usd", "pricing_status", "cost_usd")

# The USD rate of a billed non-USD row: the dated rate of its day (see _FX_DAILY_SQL), else the
# undated one. Equality joins only: the as-of lookup is done once, when the pricer is built.
_FX_RATE = (
    "CASE WHEN c.cost_source = 'billed' AND upper(c.billing_currency) <> 'USD' "
    "THEN coalesce(fd.usd_rate, fu.usd_rate) END"
)

_PRICED_SQL = f"""
SELECT c._idx, {", ".join(f"{_REPLACED[n]} AS {n}" for n in _OUTPUTS)}, {_FX_RATE} AS _fx_rate
FROM ({_TOTALS_SQL}) c
LEFT JOIN _pricing_fx_daily fd ON fd.currency = upper(c.billing_currency) AND fd.day = CAST(c.period_start AS DATE)
LEFT JOIN _pricing_fx_undated fu ON fu.currency = upper(c.billing_currency)
LEFT JOIN _pricing_discounts d ON d.provider = c.provider
ORDER BY c._idx
"""

# Dated rates unrolled to one row per calendar day: the rate of the latest day <= that day, at most
# MAX_AGE_DAYS old (the ECB publishes none on weekends and holidays). ~30 currencies x 27 years of
# ECB history is ~300k rows, built once per pricer.
_FX_DAILY_SQL = f"""
CREATE OR REPLACE TABLE _pricing_fx_daily AS
WITH d AS (SELECT upper(currency) AS currency, day, usd_rate FROM _pricing_fx_in WHERE day IS NOT NULL),
span AS (SELECT currency, min(day) AS lo, max(day) AS hi FROM d GROUP BY currency),
cal AS (
  SELECT currency, CAST(unnest(generate_series(CAST(lo AS TIMESTAMP),
         CAST(hi AS TIMESTAMP) + INTERVAL {MAX_AGE_DAYS} DAY, INTERVAL 1 DAY)) AS DATE) AS day
  FROM span
)
SELECT cal.currency, cal.day, d.usd_rate
FROM cal ASOF JOIN d ON d.currency = cal.currency AND d.day <= cal.day
WHERE date_diff('day', d.day, cal.day) <= {MAX_AGE_DAYS}
"""
_FX_UNDATED_SQL = """
CREATE OR REPLACE TABLE _pricing_fx_undated AS
SELECT upper(currency) AS currency, any_value(usd_rate) AS usd_rate FROM _pricing_fx_in WHERE day IS NULL GROUP BY 1
"""
# The exact product of billed_cost (38, 18) and a rate (<= 19 integer digits, 18 decimals).
_WIDE_COST = pa.decimal256(38, 18)
_WIDE_RATE = pa.decimal256(37, 18)


class Pricer:
    """Prices Arrow batches of ledger rows on a private in-memory DuckDB."""

    @classmethod
    def for_store(cls, store: Any, settings: Any) -> Pricer:
        """The pricer for a ledger: its settings' price book and overrides, its stored FX rates."""
        from ..fx import fx_table

        return cls(PriceBook(settings.pricing), fx=fx_table(store, settings))

    def __init__(self, book: PriceBook | None = None, fx: pa.Table | None = None):
        """``fx``: (currency, day, usd_rate) rows, ``day`` NULL for an undated rate, as built by
        ``aispend.fx.fx_table``; without it, the book's undated ``[pricing.fx]`` rates."""
        self.book = book or PriceBook()
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.register("_pricing_book", self.book.prices())
        self.con.register("_pricing_overrides", self.book.overrides())
        self.con.register("_pricing_discounts", self.book.discounts())
        if fx is None:
            undated = self.book.fx()
            fx = undated.add_column(1, "day", pa.nulls(undated.num_rows, pa.date32()))
        self.con.register("_pricing_fx_in", fx.select(FX_SCHEMA.names).cast(FX_SCHEMA))
        self.con.execute(_FX_DAILY_SQL)
        self.con.execute(_FX_UNDATED_SQL)
        self.con.unregister("_pricing_fx_in")

    def _prepare(self, rows: pa.RecordBatch | pa.Table, extra: tuple[str, ...] = ()) -> pa.Table:
        table = pa.Table.from_batches([rows]) if isinstance(rows, pa.RecordBatch) else rows
        pairs = (
            table.select(["provider", "publisher", "model_raw"])
            .group_by(["provider", "publisher", "model_raw"])
            .aggregate([])
            .to_pylist()
        )
        self.con.register("_pricing_models", self.book.model_map([(p["provider"], p["publisher"], p["model_raw"]) for p in pairs]))
        narrow = table.select([*_INPUTS, *extra]).append_column("_idx", pa.array(np.arange(table.num_rows, dtype=np.int64)))
        self.con.register("_pricing_in", narrow)
        return table

    def price(self, rows: pa.RecordBatch | pa.Table) -> pa.Table:
        """The same rows, priced, with the ledger's schema."""
        table = self._prepare(rows).cast(ARROW_SCHEMA)
        priced = self.con.sql(_PRICED_SQL).to_arrow_table()
        priced = priced.set_column(priced.schema.get_field_index("cost_usd"), "cost_usd", _converted(table, priced))
        for name in _OUTPUTS:
            i = table.schema.get_field_index(name)
            table = table.set_column(i, table.schema.field(i), priced.column(name).cast(table.schema.field(i).type))
        return table

    def components(self, rows: pa.RecordBatch | pa.Table) -> pa.Table:
        """Input, output and request list cost per row, for checking against genai-prices."""
        self._prepare(rows, extra=("row_id",))
        return self.con.sql(
            "SELECT row_id, _model_id AS model_id, _priced AS priced, _list_input_usd AS input_usd, "
            f"_list_output_usd AS output_usd, _list_requests_usd AS requests_usd FROM ({_COMPONENTS_SQL})"
        ).to_arrow_table()

    def close(self) -> None:
        self.con.close()


def _converted(table: pa.Table, priced: pa.Table) -> pa.ChunkedArray:
    """cost_usd with billed non-USD rows set to billed_cost x rate, rounded half-even to 18 places."""
    cost = priced.column("cost_usd").cast(MONEY_ARROW)
    rate = priced.column("_fx_rate")
    if rate.null_count == len(rate):
        return cost
    billed = table.column("billed_cost").combine_chunks().cast(_WIDE_COST)
    product = pc.multiply(billed, rate.combine_chunks().cast(MONEY_ARROW).cast(_WIDE_RATE))
    exact = pc.round(product, ndigits=18, round_mode="half_to_even").cast(MONEY_ARROW)
    return pa.chunked_array([pc.if_else(pc.is_valid(rate.combine_chunks()), exact, cost.combine_chunks())])
