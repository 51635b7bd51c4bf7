"""The approvals app's models, one module per subject; import them from here (``from approvals.models import …``).

- ``core``: policies, check runs and results, transition requests, reviews, comments, out-of-band changes.
- ``tiers``: the risk tier of each model.
- ``attestations``: waivers, re-certifications and the reviewers' attestations deciding them.
- ``enforcement``: reverts of unapproved Production changes (out_of_band: revert).
"""

from .attestations import Attestation, Recertification, Waiver
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
from .tiers import ModelRiskTier, allowed_tiers

__all__ = [
    "Attestation",
    "Recertification",
    "Waiver",
    "STAGE_CHOICES",
    "CheckResult",
    "CheckRun",
    "ModelRiskTier",
    "Policy",
    "RequestComment",
    "Revert",
    "Review",
    "TransitionRequest",
    "UnapprovedTransition",
    "allowed_tiers",
]
