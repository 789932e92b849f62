"""What can we cut: model-swap what-ifs and ranked, stored recommendations (docs/optimize.md).

* :func:`whatif` prices one model's observed workload at another's prices, per scope;
* :func:`recommend` runs every recommendation kind (``optimize.recommend``, one module each) over
  the last ``[optimize] window_days`` of the ledger and stores what it finds;
* :func:`accept` / :func:`dismiss` decide one; :func:`track` follows an accepted model swap.
"""

from __future__ import annotations

from .decisions import accept, dismiss, stored
from .recommend import Findings, Recommendation, recommend
from .tracking import track
from .whatif import ModelRef, WhatIf, WhatIfError, whatif

__all__ = ["Findings", "ModelRef", "Recommendation", "WhatIf", "WhatIfError", "accept", "dismiss", "recommend",
           "stored", "track", "whatif"]
