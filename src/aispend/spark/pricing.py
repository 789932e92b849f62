"""The bulk pricer on Spark: ``pricing.apply``'s SQL over a DataFrame, the book broadcast.

The book's tables (prices, overrides, discounts, FX by day) are built by the same
:class:`~aispend.pricing.Pricer` the DuckDB path uses and shipped to Spark as small broadcast
DataFrames; the model map is built by :meth:`PriceBook.model_map` from the distinct
(provider, publisher, model_raw) of the input. The join and arithmetic are the pricer's own SQL
text, transpiled; Spark runs it with ``allowPrecisionLoss=false``, so every product keeps its
18 decimals (DuckDB's result type) instead of Spark's default 6.

One step is not SQL on either side: a billed non-USD row's ``billed_cost x rate`` needs 36
decimals, more than any 38-digit decimal holds. DuckDB's path does it in Arrow (``_converted``,
256-bit, rounded half-even); here the same function runs in an Arrow UDF, only when some FX rate
exists at all.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ..pricing import Pricer
from ..pricing.apply import _FX_RATE, _OUTPUTS, _REPLACED, _TOTALS_SQL, _converted
from ..schema import LEDGER_COLUMNS
from .frames import from_arrow
from .sql import to_spark

_VIEWS = ("_pricing_book", "_pricing_overrides", "_pricing_discounts", "_pricing_fx_daily", "_pricing_fx_undated")


def priced_sql(extra: tuple[str, ...] = ()) -> str:
    """The pricer's SELECT (DuckDB dialect) over ``_pricing_in`` holding whole ledger rows:
    every ledger column (the four pricing sets replaced), ``extra`` passed through, ``_fx_rate``."""
    cols = [f"{_REPLACED[c.name]} AS {c.name}" if c.name in _OUTPUTS else f"c.{c.name}" for c in LEDGER_COLUMNS]
    cols += [f"c.{e}" for e in extra]
    return f"""
SELECT {", ".join(cols)}, {_FX_RATE} AS _fx_rate
FROM ({_TOTALS_SQL}) c
LEFT JOIN _pricing_fx_daily fd ON fd.currency = upper(c.billing_currency) AND fd.day = CAST(c.period_start AS DATE)
LEFT JOIN _pricing_fx_undated fu ON fu.currency = upper(c.billing_currency)
LEFT JOIN _pricing_discounts d ON d.provider = c.provider"""


def _fx_convert() -> Any:
    from pyspark.sql.functions import arrow_udf

    @arrow_udf("decimal(38,18)")  # type: ignore[misc]
    def convert(billed: pa.Array, rate: pa.Array, cost: pa.Array) -> pa.Array:
        return _converted(pa.table({"billed_cost": billed}), pa.table({"cost_usd": cost, "_fx_rate": rate})).combine_chunks()

    return convert


class SparkPricer:
    """Prices DataFrames of ledger rows; build once per job (the book is flattened once)."""

    def __init__(self, spark: Any, pricer: Pricer):
        from pyspark.sql import functions as F

        self.spark, self.book = spark, pricer.book
        tables = {
            "_pricing_book": self.book.prices(),
            "_pricing_overrides": self.book.overrides(),
            "_pricing_discounts": self.book.discounts(),
            "_pricing_fx_daily": pricer.con.sql("SELECT * FROM _pricing_fx_daily").to_arrow_table(),
            "_pricing_fx_undated": pricer.con.sql("SELECT * FROM _pricing_fx_undated").to_arrow_table(),
        }
        # A rate only matters for a non-USD bill; USD = 1 is always there and never used.
        self.has_fx = any(
            t.filter(pa.compute.not_equal(t["currency"], "USD")).num_rows
            for n, t in tables.items() if n.startswith("_pricing_fx"))
        self.frames = {n: F.broadcast(from_arrow(spark, t)) for n, t in tables.items()}

    def _models(self, df: Any) -> Any:
        from pyspark.sql import functions as F

        pairs = [(r[0], r[1], r[2]) for r in df.select("provider", "publisher", "model_raw").distinct().collect()]
        return F.broadcast(from_arrow(self.spark, self.book.model_map(pairs)))

    def price(self, df: Any, extra: tuple[str, ...] = ()) -> Any:
        """``df`` (every ledger column, plus ``extra``) priced: model, list_cost_usd,
        pricing_status and cost_usd set exactly as ``Pricer.price`` sets them."""
        from pyspark.sql import functions as F

        for name, frame in {**self.frames, "_pricing_models": self._models(df), "_pricing_in": df}.items():
            frame.createOrReplaceTempView(name)
        out = self.spark.sql(to_spark(priced_sql(extra)))
        if self.has_fx:
            cost = F.when(F.col("_fx_rate").isNotNull(), _fx_convert()("billed_cost", "_fx_rate", "cost_usd"))
            out = out.withColumn("cost_usd", cost.otherwise(F.col("cost_usd")))
        return out.drop("_fx_rate")
