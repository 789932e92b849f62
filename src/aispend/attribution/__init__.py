"""Attribution: who, which feature and which customer each ledger row's spend belongs to.

Rules (``rules.py``) fill what bills do not say, from what they do (key, project, tags, model);
``apply.py`` runs them over fresh rows after every import and sync, or over history when rules
change (``aispend attribute``), and explains a row's result.
"""

from __future__ import annotations

from .apply import UNATTRIBUTED, Coverage, Explanation, apply_rules, attribute, coverage, explain
from .rules import SETTABLE, AttributionSettings, Rule

__all__ = ["SETTABLE", "UNATTRIBUTED", "AttributionSettings", "Coverage", "Explanation", "Rule", "apply_rules",
           "attribute", "coverage", "explain"]
