"""Risk tiers set by ML leads or admins, audited ``model.risk_tier_set`` with before and after."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.services import Target, actor_name, record
from registry.access import enforce
from registry_portal import roles

from .. import access
from ..models import ModelRiskTier, allowed_tiers


def risk_tier_set(*, actor, model_name: str, tier: int | None, reason: str = "", source: str = ModelRiskTier.MANUAL):
    """Set ``model_name``'s tier (ValidationError for a tier not in ``RISK_TIERS``), or clear it (``tier=None``:
    the default policy applies again); row lock, audit in the same transaction. A tier derived from the card
    (``source="card"``) never replaces a manual one: returns None, as clearing does."""
    enforce(access.risk_tier_set_refusal(actor))
    if tier is not None and (isinstance(tier, bool) or not isinstance(tier, int) or tier not in allowed_tiers()):
        raise ValidationError({"tier": f"must be one of {', '.join(map(str, allowed_tiers()))}, got {tier!r}"})
    with transaction.atomic():
        row = ModelRiskTier.objects.select_for_update().filter(model_name=model_name).first()
        if row is not None and source == ModelRiskTier.CARD and row.source == ModelRiskTier.MANUAL:
            return None
        if tier is None:
            if row is not None:
                _record(actor, model_name, before=row.snapshot(), after=None, reason=reason)
                row.delete()
            return None
        before = row.snapshot() if row else None
        row = row or ModelRiskTier(model_name=model_name)
        row.tier, row.source, row.reason, row.set_by = tier, source, reason, actor_name(actor)
        if before == row.snapshot():
            return row
        row.save()
        _record(actor, model_name, before=before, after=row.snapshot())
    return row


def _record(actor, model_name: str, *, before, after, reason: str = "") -> None:
    data = {"before": before, "after": after}
    if after is None:
        data["reason"] = reason
    record(
        actor=actor,
        action="model.risk_tier_set",
        target=Target(type="model", id=model_name, model_name=model_name),
        data=data,
    )


def risk_tier_derive_from_card(*, model_name: str, sections: dict) -> ModelRiskTier | None:
    """Where the model's policy has ``tier_from_card``: the tier the card's ``sections`` give (source "card",
    the worker as actor); a manual tier wins. None when nothing is derived."""
    from ..policies import policy_settings, tier_from_card

    config = policy_settings(model_name).tier_from_card
    tier = tier_from_card(config, sections) if config else None
    if tier is None:
        return None
    return risk_tier_set(
        actor=roles.SYSTEM_WORKER,
        model_name=model_name,
        tier=tier,
        reason=f"derived from the card's {config['section']} section",
        source=ModelRiskTier.CARD,
    )
