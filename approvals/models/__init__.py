"""The approvals app's models, one module per subject; import them from here (``from approvals.models import …``).

- ``core``: policies, check runs and results, transition requests, reviews, comments, out-of-band changes.
- ``enforcement``: reverts of unapproved Production changes (out_of_band: revert).
"""

from .core import (
    STAGE_CHOICES,
    CheckResult,
    CheckRun,
    Policy,
    RequestComment,
    Review,
    TransitionRequest,
    UnapprovedTransition,
)
from .enforcement import Revert

__all__ = [
    "STAGE_CHOICES",
    "CheckResult",
    "CheckRun",
    "Policy",
    "RequestComment",
    "Revert",
    "Review",
    "TransitionRequest",
    "UnapprovedTransition",
]
