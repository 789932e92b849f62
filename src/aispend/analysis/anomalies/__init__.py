"""Anomaly detection over the ledger: spend spikes, token jumps, newcomers and silences.

One module per detector, each reading the counted ledger (never double-counted money):

* :mod:`.spend`: a day's spend against the same weekday of the trailing weeks, trend-adjusted
  (``spend_spike``), and the simple "N x yesterday" rule (``spend_vs_yesterday``);
* :mod:`.tokens`: input or output tokens per request jumping, hour by hour on hourly data
  (``tokens_per_request``);
* :mod:`.newcomers`: a model or API key never seen before (``new_model``, ``new_api_key``);
* :mod:`.silence`: steady spend that stops (``silent_scope``).

:func:`detect_anomalies` runs them over a window; :func:`run_anomalies` also stores the result,
replacing the window's earlier rows (:mod:`.records`). Thresholds are ``[anomalies]`` in
aispend.toml (:class:`aispend.config.AnomalySettings`; docs/anomalies.md).
"""

from __future__ import annotations

from .detect import AnomalyError, Detection, detect_anomalies, select
from .model import KINDS, SEVERITIES, Anomaly, anomaly_id, scope_text
from .records import record_anomalies, run_anomalies, stored_anomalies

__all__ = [
    "KINDS",
    "SEVERITIES",
    "Anomaly",
    "AnomalyError",
    "Detection",
    "anomaly_id",
    "detect_anomalies",
    "record_anomalies",
    "run_anomalies",
    "scope_text",
    "select",
    "stored_anomalies",
]
