"""Policy changes, each audited (``policy.changed`` with before and after) in its own transaction."""

from __future__ import annotations

from django.db import transaction

from audit.services import Target, actor_name, record

from ..models import Policy
from ..policies import PolicyData, default_policy_create


def _policy_target(model_name: str, tier: int | None = None) -> Target:
    if tier is not None:
        return Target(type="policy", id=f"tier-{tier}")
    return Target(type="policy", id=model_name or "default", model_name=model_name)


def policy_save(*, actor, policy: Policy) -> Policy:
    """Validate and save ``policy``; audit ``policy.changed`` with before/after in the same transaction."""
    with transaction.atomic():
        previous = Policy.objects.select_for_update().filter(pk=policy.pk).first() if policy.pk else None
        before = previous.snapshot() if previous else None
        policy.updated_by = actor_name(actor)
        policy.save()
        if before != policy.snapshot():
            record(
                actor=actor,
                action="policy.changed",
                target=_policy_target(policy.model_name, policy.tier),
                data={"before": before, "after": policy.snapshot()},
            )
    return policy


def policy_delete(*, actor, policy: Policy) -> None:
    with transaction.atomic():
        record(
            actor=actor,
            action="policy.changed",
            target=_policy_target(policy.model_name, policy.tier),
            data={"before": policy.snapshot(), "after": None},
        )
        policy.delete()


def policies_import(*, actor, policies: list[PolicyData]) -> list[str]:
    """Make the stored policies exactly those of a validated document; one transaction, one event per change.

    Returns a line per change for the operator. Validation happens before (``policies.parse_yaml``),
    so a bad document never reaches here and the old policies stay.
    """
    changes = []
    with transaction.atomic():
        existing = {(p.model_name, p.tier): p for p in Policy.objects.select_for_update()}
        for data in policies:
            policy = existing.pop((data.model_name, data.tier), None) or Policy(
                model_name=data.model_name, tier=data.tier
            )
            created = policy.pk is None
            before = None if created else policy.snapshot()
            policy.description, policy.rules = data.description, data.rules
            for key in Policy.SETTINGS:
                setattr(policy, key, data.settings.get(key, Policy._meta.get_field(key).get_default()))
            if before == policy.snapshot():
                continue
            policy_save(actor=actor, policy=policy)
            changes.append(f"{'created' if created else 'updated'} {policy.label}")
        for stale in existing.values():
            policy_delete(actor=actor, policy=stale)
            changes.append(f"deleted {stale.label}")
    return changes


def policy_reset_default(*, actor) -> Policy:
    """Put the default policy back as a fresh install has it."""
    with transaction.atomic():
        fresh = default_policy_create()
        policy = Policy.objects.select_for_update().filter(model_name="", tier__isnull=True).first() or fresh
        policy.description, policy.rules = fresh.description, fresh.rules
        return policy_save(actor=actor, policy=policy)
