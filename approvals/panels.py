"""What approvals adds to the registry's pages, through ``registry.panels`` (``ApprovalsConfig.ready`` calls
``register``): the red banner of out-of-band changes (model list: every model, and a marker on their rows;
model page: its own), open requests (a count per model on the list; the model page's list beside the headline
and a badge per version, from one query), and on the version page its open request (or the form to file one)
and the governance checklist.

What a panel offers comes from ``approvals.access``, the functions the services enforce.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry import panels
from registry.panels import Column, PageObjects, Panel

from . import access, selectors
from .forms import RequestCreateForm, RiskTierForm


def _unapproved(objects: PageObjects) -> dict:
    """Unacknowledged out-of-band changes by model name (the page's model, or every model); one query a page,
    shared by the banner and the model list's row markers."""
    name = objects.model.name if objects.model is not None else ""
    return objects.once("approvals.unapproved", lambda: selectors.unacknowledged_by_model(name))


def _open_requests(objects: PageObjects) -> dict:
    """The model's open request of each version, by number; one query a page, shared by the list and the table."""
    return objects.once("approvals.open_requests", lambda: selectors.open_requests_by_version(objects.model.name))


def unapproved_banner(objects: PageObjects) -> dict:
    found = _unapproved(objects)
    acknowledgeable = {
        change.pk
        for changes in found.values()
        for change in changes
        if access.acknowledge_refusal(objects.user, change) is None
    }
    return {"found": found, "model": objects.model, "acknowledgeable": acknowledgeable}


@dataclass(frozen=True)
class ModelRequests:
    """The model list's cell: open requests of the model, and its out-of-band changes described ("" if none)."""

    open_count: int
    unapproved: str


def model_request_counts(objects: PageObjects, models) -> dict[int, ModelRequests]:
    counts = selectors.open_request_counts([m.name for m in models])
    unapproved = _unapproved(objects)
    return {
        m.pk: ModelRequests(counts.get(m.name, 0), "; ".join(u.describe() for u in unapproved.get(m.name, ())))
        for m in models
    }


def model_requests(objects: PageObjects) -> dict:
    return {"requests": list(_open_requests(objects).values()), "model": objects.model}


def version_requests(objects: PageObjects, versions) -> dict:
    by_number = _open_requests(objects)
    return {v.pk: by_number.get(v.version) for v in versions}


def version_request(objects: PageObjects) -> dict:
    """The version's open request, or the form to file one for those ``access`` lets."""
    version = objects.version
    can_create = access.request_create_refusal(objects.user, version) is None
    open_request = selectors.open_request_for_version(version)
    return {
        "version": version,
        "open_request": open_request,
        "can_create": can_create,
        "form": RequestCreateForm(version=version) if can_create and open_request is None else None,
    }


def version_checks(objects: PageObjects) -> dict:
    return selectors.checks_panel(objects.version, objects.user)


def model_risk_tiers(objects: PageObjects, models) -> dict:
    """The model list's "Risk tier" cell: each model's tier row (or None); one query."""
    from .models import ModelRiskTier

    found = {t.model_name: t for t in ModelRiskTier.objects.filter(model_name__in=[m.name for m in models])}
    return {m.pk: found.get(m.name) for m in models}


def model_risk_tier(objects: PageObjects) -> dict:
    """The model's tier, and the "Set tier" form for those ``access`` lets (ML leads, admins)."""
    from .models import ModelRiskTier

    tier = ModelRiskTier.objects.filter(model_name=objects.model.name).first()
    can_set = access.risk_tier_set_refusal(objects.user) is None
    initial = {"tier": tier.tier if tier else ""}
    return {"tier": tier, "model": objects.model, "form": RiskTierForm(initial=initial) if can_set else None}


def version_governance(objects: PageObjects) -> dict:
    """The version's waivers, an expired-waiver flag in Production, and its re-certification state."""
    from . import selectors_governance as sg
    from .services.recertification import recertification_state

    version = objects.version
    return {
        "waivers": sg.waivers_of_version(version),
        "waiver_expired": sg.production_waiver_expired(version),
        "recertification": recertification_state(version),
    }


def model_waiver_flags(objects: PageObjects, models) -> dict:
    from .selectors_governance import expired_waiver_model_names

    flagged = expired_waiver_model_names(m.name for m in models)
    return {m.pk: m.name in flagged for m in models}


def register() -> None:
    for item in (
        Panel("approvals.unapproved", "model_list", "top", unapproved_banner, "approvals/unapproved_banner.html"),
        Column(
            "approvals.request_counts",
            "model_list",
            "Open requests",
            model_request_counts,
            "approvals/panels.html#request_count",
        ),
        Panel("approvals.model_unapproved", "model", "top", unapproved_banner, "approvals/unapproved_banner.html"),
        Panel("approvals.model_requests", "model", "aside", model_requests, "approvals/panels.html#model_requests"),
        Column("approvals.risk_tiers", "model_list", "Risk tier", model_risk_tiers, "approvals/panels.html#risk_tier"),
        Panel("approvals.risk_tier", "model", "aside", model_risk_tier, "approvals/panels.html#model_risk_tier"),
        # After the cards app's "Card" (order 10).
        Column(
            "approvals.version_requests",
            "model",
            "Open request",
            version_requests,
            "approvals/panels.html#request_badge",
            order=20,
        ),
        Panel("approvals.version_request", "version", "top", version_request, "approvals/panels.html#version_request"),
        Panel("approvals.checks", "version", "top", version_checks, "approvals/version_checks.html#panel", order=10),
        Panel(
            "approvals.governance", "version", "top", version_governance, "approvals/panels.html#governance", order=20
        ),
        Column(
            "approvals.waiver_flags", "model_list", "Waivers", model_waiver_flags, "approvals/panels.html#waiver_flag"
        ),
    ):
        panels.register(item)
