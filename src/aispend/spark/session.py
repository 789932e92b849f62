"""A SparkSession configured for exact money, and a clear answer when Java is missing."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

# Spark settings the results depend on. A cluster's own defaults may differ; the job sets these
# on its session whatever the cluster says.
EXACT_CONF: dict[str, str] = {
    # DuckDB and the ledger are UTC; Spark would use the JVM's zone for TIMESTAMP <-> text.
    "spark.sql.session.timeZone": "UTC",
    # Spark's default cuts a DECIMAL(38, 18) x BIGINT product to 6 decimals to keep 32 integer
    # digits. With false it keeps all 18 (as DuckDB does) and an overflow is an error (ANSI).
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
LOCAL_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.memory": "4g",
}


class SparkUnavailable(RuntimeError):
    """PySpark or a Java runtime is missing."""


def java_available() -> str | None:
    """Why Spark cannot start here, or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'aispend[spark]')"
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return None
    if shutil.which("java") is None:
        return "no Java runtime: install one (Java 17 or 21; apt-get install default-jre-headless) or set JAVA_HOME"
    return None


def spark_session(master: str | None = None, app_name: str = "aispend", conf: dict[str, str] | None = None) -> Any:
    """The active session (or a new one) with :data:`EXACT_CONF` set.

    ``master``: ``local[N]`` starts a local session with :data:`LOCAL_CONF`; None keeps what
    ``spark-submit`` / the cluster set (a plain ``python`` process gets ``local[*]``).
    """
    reason = java_available()
    if reason:
        raise SparkUnavailable(reason)
    from pyspark.sql import SparkSession

    master = master or os.environ.get("AISPEND_SPARK_MASTER")
    if master is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
        master = "local[*]"  # a plain python process; under spark-submit the JVM set the master
    active = SparkSession.getActiveSession()
    if active is None or master:
        builder = SparkSession.builder.appName(app_name)
        if master:
            builder = builder.master(master)
        if master and master.startswith("local"):
            # Workers are this interpreter (its venv has aispend), not whatever python3 is on PATH.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            for k, v in LOCAL_CONF.items():
                builder = builder.config(k, v)
        for k, v in (conf or {}).items():
            builder = builder.config(k, v)
        active = builder.getOrCreate()
    for k, v in EXACT_CONF.items():
        active.conf.set(k, v)
    return active
