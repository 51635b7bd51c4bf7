"""Who owns a model in the portal (``ModelOwner``), and what MLflow's ``owner`` tag suggests instead.

Pages prefetch a model's owners (``with_owners``) so ``roles.is_owner`` and the owner column cost no query per row.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Prefetch, Q

from ..models import ModelOwner, RegisteredModel


def owners_prefetch() -> Prefetch:
    return Prefetch("owners", queryset=ModelOwner.objects.select_related("user", "group").order_by("id"))


def with_owners(models):
    """``models`` (a queryset) with each model's owners prefetched (``model.owners.all()``, no query per model)."""
    return models.prefetch_related(owners_prefetch())


def owned_by(username: str) -> Exists:
    """Models ``username`` owns in the portal: named on the model, or a member of a group named on it."""
    return Exists(
        ModelOwner.objects.filter(model=OuterRef("pk")).filter(
            Q(user__username=username) | Q(group__user__username=username)
        )
    )


def owner_choices() -> list[str]:
    """The user names the model list can filter by: users named as an owner of some model."""
    return list(
        get_user_model()
        .objects.filter(Exists(ModelOwner.objects.filter(user=OuterRef("pk"))))
        .order_by("username")
        .values_list("username", flat=True)
    )


def tag_suggestion(model: RegisteredModel) -> str:
    """MLflow's ``owner`` tag when it names someone the portal does not list as an owner (directly); else "".

    Reads ``model.owners.all()`` (prefetch it).
    """
    tag = model.owner_tag
    if not tag:
        return ""
    named = {row.user.get_username() for row in model.owners.all() if row.user_id}
    return "" if tag in named else tag


def model_owners_all():
    """Every model with its owners, for the roles page: name order, two queries."""
    return with_owners(RegisteredModel.objects.only("name", "owner_tag", "owner_tag_flagged_at").order_by("name"))


def model_owner_get(pk: int) -> ModelOwner:
    """One portal owner row (with its model, user, group), or 404."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(ModelOwner.objects.select_related("model", "user", "group"), pk=pk)
