"""May this user do X to a finding? One function per question, each a ``registry.access.Refusal`` or None."""

from __future__ import annotations

from registry.access import Refusal
from registry_portal import roles

from .models import Finding


def _is_model_owner(user, finding: Finding) -> bool:
    return finding.version_id is not None and roles.is_owner(user, finding.version.model)


def read_refusal(user) -> Refusal | None:
    if not getattr(user, "is_authenticated", False):
        return Refusal("sign in to read findings")
    return None


def open_refusal(user, version) -> Refusal | None:
    """Opening a finding on ``version``: reviewers, ML leads and admins."""
    if not getattr(user, "is_authenticated", False):
        return Refusal("sign in to open a finding")
    if roles.is_admin(user) or roles.in_group(user, roles.REVIEWERS, roles.ML_LEADS):
        return None
    return Refusal("only reviewers, ML leads and admins may open findings")


def remediate_refusal(user, finding: Finding) -> Refusal | None:
    """Recording a remediation: the finding's owner or the model's owners, while it is open."""
    if user.pk != finding.owner_id and not _is_model_owner(user, finding):
        return Refusal("only the finding's owner or the model's owners may remediate it")
    if finding.status != Finding.OPEN:
        return Refusal(f"finding #{finding.pk} is {finding.status}, not open", conflict=True)
    return None


def _reviewer_not_owner(user, finding: Finding, verb: str) -> Refusal | None:
    if user.pk == finding.owner_id:
        return Refusal(f"you own finding #{finding.pk}: someone else (a reviewer or ML lead) must {verb} it")
    if not roles.in_group(user, roles.REVIEWERS, roles.ML_LEADS):
        return Refusal(f"only reviewers and ML leads may {verb} findings")
    return None


def close_refusal(user, finding: Finding) -> Refusal | None:
    """Closing: a reviewer or lead who is not the finding's owner, once it is remediated (or still open)."""
    refusal = _reviewer_not_owner(user, finding, "close")
    if refusal:
        return refusal
    if not finding.is_unresolved:
        return Refusal(f"finding #{finding.pk} is already {finding.status}", conflict=True)
    return None


def accept_refusal(user, finding: Finding) -> Refusal | None:
    """Accepting the risk: a reviewer or lead who is not the finding's owner, while unresolved."""
    refusal = _reviewer_not_owner(user, finding, "accept")
    if refusal:
        return refusal
    if not finding.is_unresolved:
        return Refusal(f"finding #{finding.pk} is already {finding.status}", conflict=True)
    return None


def reopen_refusal(user, finding: Finding) -> Refusal | None:
    """Reopening a remediated finding (the fix did not hold): reviewers, ML leads and admins."""
    if not (roles.is_admin(user) or roles.in_group(user, roles.REVIEWERS, roles.ML_LEADS)):
        return Refusal("only reviewers, ML leads and admins may reopen findings")
    if finding.status != Finding.REMEDIATED:
        return Refusal(f"finding #{finding.pk} is {finding.status}, not remediated", conflict=True)
    return None


def carry_over_refusal(user, from_version, to_version) -> Refusal | None:
    """Carrying findings to a newer version of the same model: the model's owners."""
    if from_version.model_id != to_version.model_id:
        return Refusal("findings carry over only between versions of the same model")
    if to_version.version <= from_version.version:
        return Refusal("findings carry over only to a newer version")
    if not roles.is_owner(user, to_version.model):
        return Refusal("only the model's owners may carry findings over")
    return None
