"""The heavy paths on Apache Spark: normalize exports, price, roll up events, allocate.

Same answers as the DuckDB path, to the cent and below: the normalizer and pricing SQL is the
DuckDB modules' own text, transpiled by sqlglot; the price book is built by :class:`PriceBook`
and broadcast; allocation calls :func:`aispend.attribution.allocate.split` in an Arrow UDF.
docs/spark.md is the user's guide. PySpark is optional (``pip install 'aispend[spark]'``):
nothing outside this package imports it, and this file imports none of the modules below.

    session.py    SparkSession with the settings exact decimals need; Java check
    sql.py        DuckDB SQL -> Spark SQL (sqlglot, plus the rewrites it needs)
    frames.py     Arrow <-> Spark tables, file-order ordinals
    normalize.py  export files (FOCUS, CSV mappings; CSV or Parquet) -> ledger rows
    pricing.py    the bulk pricer's SQL over a DataFrame, book tables broadcast
    events.py     event files -> priced events -> the events_daily rollup
    allocate.py   counted ledger -> pools -> shares by events (exact cent split)
    job.py        the whole job: inputs in, Parquet tables out
    load.py       a job's output into the serving store
"""
