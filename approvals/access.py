"""May this user do X to this check run, request or out-of-band change? One function per question.

Each returns a ``registry.access.Refusal`` (its message, and 409 when the object's state forbids it now,
else 403) or None. ``approvals.services`` raises from them (``registry.access.enforce``); the version page,
the request page and an API show the same refusal, so none of them offers what the service would refuse.
A refusal that depends on state (pending, already decided) is asked again by the service on the row it
has locked. Plain user and object in, no HTTP request: an API calls them unchanged.
"""

from __future__ import annotations

from registry.access import Refusal
from registry_portal import roles

from .models import TransitionRequest
from .policies import excludes_owners


def check_run_refusal(user, version) -> Refusal | None:
    """Queueing a check run of ``version`` (with ``model``): its owners, reviewers, ML leads, admins, and the
    portal's own system actors (a card revision or a sync re-checks); at most one query."""
    if isinstance(user, str):
        if user in roles.SYSTEM_ACTORS:
            return None
        return Refusal(f"{user!r} is not one of the portal's system actors ({', '.join(roles.SYSTEM_ACTORS)})")
    if roles.is_admin(user) or roles.is_owner(user, version.model):
        return None
    if roles.in_group(user, roles.REVIEWERS, roles.ML_LEADS):
        return None
    return Refusal("only the model's owner, reviewers, ML leads and admins may run checks")


def request_create_refusal(user, version) -> Refusal | None:
    """Filing a transition request for ``version``: the model's owners and admins, as they edit its card; no query."""
    if roles.is_owner_or_admin(user, version.model):
        return None
    return Refusal("only the model's owner or an admin may request a transition")


def review_refusal(user, request: TransitionRequest, *, current_digest: str | None = None) -> Refusal | None:
    """Approving or rejecting ``request`` now: a member of reviewers other than the requester, once; not one of
    the model's owners when the policy excludes them (``exclude_owners``; on for Production by default).

    A decision already given counts unless it is stale against ``current_digest`` (the version's content
    now); without a digest, any decision counts. Reads ``request.reviews.all()`` (prefetch it) and, for
    anyone but the requester, one query for the group; for a reviewer, one for ownership and one for the policy.
    """
    refusal = quorum_member_refusal(user, request, stage=request.to_stage, what="request")
    if refusal is not None:
        return refusal
    mine = next((r for r in request.reviews.all() if r.reviewer_id == user.pk), None)
    if mine is not None and (current_digest is None or not mine.is_stale_against(current_digest)):
        return Refusal(f"you already {'approved' if mine.is_approval else 'rejected'} this request", conflict=True)
    return None


def quorum_member_refusal(user, subject, *, stage: str, what: str) -> Refusal | None:
    """May ``user`` decide ``subject`` (a request, waiver or re-certification: ``requested_by_id`` or None,
    ``is_pending``, ``status``, ``version``, ``model_name``, ``version_number``) now: a member of reviewers other
    than the requester, while it is pending and its version is mirrored, not an owner when the ``stage`` policy
    excludes owners. The quorum rules of a Production request, shared."""
    if user.pk == getattr(subject, "requested_by_id", None):
        return Refusal("you requested this: someone else must review it")
    if not roles.in_group(user, roles.REVIEWERS):
        return Refusal(f"only members of {roles.REVIEWERS} may review")
    if not subject.is_pending:
        return Refusal(f"this {what} is {subject.status}: it takes no more reviews", conflict=True)
    if subject.version_id is None:
        return Refusal(f"{subject.model_name} v{subject.version_number} is no longer in the registry", conflict=True)
    if roles.is_owner(user, subject.version.model) and excludes_owners(subject.model_name, stage):
        return Refusal(
            f"you own {subject.model_name}: the policy for {stage} excludes the model's owners from "
            f"reviewing its {what}s"
        )
    return None


def attestation_refusal(user, subject) -> Refusal | None:
    """Attesting a waiver or re-certification: the Production quorum rules (``quorum_member_refusal``), once."""
    what = "waiver" if subject.__class__.__name__ == "Waiver" else "re-certification"
    refusal = quorum_member_refusal(user, subject, stage="Production", what=what)
    if refusal is not None:
        return refusal
    if any(a.reviewer_id == user.pk for a in subject.attestations.all()):
        return Refusal(f"you already attested this {what}", conflict=True)
    return None


def waiver_create_refusal(user, version) -> Refusal | None:
    """Requesting a waiver for ``version``: the model's owners and admins; no query beyond ownership."""
    if roles.is_owner_or_admin(user, version.model):
        return None
    return Refusal("only the model's owner or an admin may request a waiver")


def waiver_withdraw_refusal(user, waiver) -> Refusal | None:
    """Withdrawing a waiver: its requester or an admin, while pending or active; no query."""
    if user.pk != waiver.requested_by_id and not roles.is_admin(user):
        return Refusal("only the requester or an admin may withdraw a waiver")
    if waiver.status not in ("pending", "active"):
        return Refusal(f"waiver #{waiver.pk} is {waiver.status}: it cannot be withdrawn", conflict=True)
    return None


def withdraw_refusal(user, request: TransitionRequest) -> Refusal | None:
    """Withdrawing ``request``: its requester or an admin, while it is pending; no query."""
    if user.pk != request.requested_by_id and not roles.is_admin(user):
        return Refusal("only the requester or an admin may withdraw a request")
    if not request.is_pending:
        return Refusal(f"request #{request.pk} is {request.status}: it cannot become withdrawn", conflict=True)
    return None


def retry_refusal(user, request: TransitionRequest) -> Refusal | None:
    """Sending a failed ``request`` back to be applied: an admin; no query."""
    if not roles.is_admin(user):
        return Refusal("only an admin may retry a failed request")
    if request.status != TransitionRequest.FAILED:
        return Refusal(f"request #{request.pk} is {request.status}, not failed", conflict=True)
    return None


def comment_refusal(user, request: TransitionRequest) -> Refusal | None:
    """Commenting on ``request``: reviewers, ML leads, the requester, the model's owners and admins (docs/roles.md).

    At most two queries (the groups, then ownership when the version is still mirrored)."""
    if not getattr(user, "is_authenticated", False):
        return Refusal("sign in to comment")
    if user.pk == request.requested_by_id or roles.is_admin(user):
        return None
    if roles.in_group(user, roles.REVIEWERS, roles.ML_LEADS):
        return None
    if request.version_id is not None and roles.is_owner(user, request.version.model):
        return None
    return Refusal("only reviewers, ML leads, the requester, the model's owners and admins may comment")


def acknowledge_refusal(user, unapproved) -> Refusal | None:
    """Acknowledging an ``UnapprovedTransition`` (the red banner goes): an admin, once; no query."""
    if not roles.is_admin(user):
        return Refusal("only an admin may acknowledge an unapproved transition")
    if unapproved.acknowledged_at is not None:
        return Refusal("already acknowledged", conflict=True)
    return None


def risk_tier_set_refusal(user) -> Refusal | None:
    """Setting a model's risk tier: ML leads and admins (the card derives it as a system actor); one query."""
    if isinstance(user, str):
        return None if user in roles.SYSTEM_ACTORS else Refusal(f"{user!r} is not one of the portal's system actors")
    if roles.is_admin(user) or roles.in_group(user, roles.ML_LEADS):
        return None
    return Refusal("only ML leads and admins may set a model's risk tier")
