"""Governance writes, one module per subsystem; import them from here (``from approvals import services``).

- ``policies``: policy changes, audited.
- ``check_runs``: check runs queued, executed by the worker, re-run when content changes, swept.
- ``requests``: transition requests filed, withdrawn, commented, reviewed, retried.
- ``approval``: the move to ``approved`` once quorum and checks hold.
- ``apply``: the exactly-once push of an approved request to MLflow, and its sweeper.
- ``waivers``: waivers requested, attested (``attestation_give``, shared with re-certifications), withdrawn, expired.
- ``recertification``: Production versions falling due, opened, reminded, overdue, certified or rejected.
- ``enforcement``: reverts of unapproved Production changes (``out_of_band: revert``), exactly once, swept.
- ``out_of_band``: stage/alias changes made outside the portal, superseded requests, renames, acknowledgements.

Every public function is keyword-only and named ``<entity>_<verb>`` (entity plural when it acts on many).
Who may do what is ``approvals.access``; reads are ``approvals.selectors``. Services queue tasks by name
(``registry_portal.celery.queue_task``) and never import ``approvals.tasks``.
"""

from ._common import RequestConflict
from .apply import (
    transition_request_apply,
    transition_request_claim,
    transition_request_extend_lease,
    transition_request_fail,
    transition_requests_sweep,
)
from .approval import transition_request_reconsider
from .check_runs import (
    REQUEUE_AFTER,
    check_run_create,
    check_run_execute,
    check_run_rerun,
    check_runs_rerun_stale,
    check_runs_sweep,
)
from .enforcement import revert_apply, revert_claim, revert_extend_lease, revert_fail, reverts_sweep
from .out_of_band import (
    model_rename_follow,
    transition_requests_supersede_for_removed,
    unapproved_transition_acknowledge,
    unapproved_transitions_detect,
)
from .policies import policies_import, policy_delete, policy_reset_default, policy_save
from .recertification import recertification_state, recertifications_open, recertifications_supersede
from .requests import (
    request_comment_create,
    review_submit,
    transition_request_create,
    transition_request_retry,
    transition_request_withdraw,
)
from .tiers import risk_tier_derive_from_card, risk_tier_set
from .waivers import attestation_give, waiver_create, waiver_withdraw, waivers_expire

__all__ = [
    "attestation_give",
    "recertification_state",
    "recertifications_open",
    "recertifications_supersede",
    "waiver_create",
    "waiver_withdraw",
    "waivers_expire",
    "REQUEUE_AFTER",
    "RequestConflict",
    "check_run_create",
    "check_run_execute",
    "check_run_rerun",
    "check_runs_rerun_stale",
    "check_runs_sweep",
    "model_rename_follow",
    "policies_import",
    "policy_delete",
    "policy_reset_default",
    "policy_save",
    "request_comment_create",
    "risk_tier_derive_from_card",
    "risk_tier_set",
    "review_submit",
    "revert_apply",
    "revert_claim",
    "revert_extend_lease",
    "revert_fail",
    "reverts_sweep",
    "transition_request_apply",
    "transition_request_claim",
    "transition_request_create",
    "transition_request_extend_lease",
    "transition_request_fail",
    "transition_request_reconsider",
    "transition_request_retry",
    "transition_request_withdraw",
    "transition_requests_supersede_for_removed",
    "transition_requests_sweep",
    "unapproved_transition_acknowledge",
    "unapproved_transitions_detect",
]
