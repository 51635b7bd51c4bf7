"""Reads that depend on who asks. Views never call ``.objects.get`` on protected data."""

from django.db.models import Count, OuterRef, Subquery
from django.shortcuts import get_object_or_404

from .models import ModelVersion, RegisteredModel


def model_list_for_user(user, *, query: str = "", stage: str = "", owner: str = ""):
    models = RegisteredModel.objects.visible_to(user)
    if query:
        models = models.filter(name__icontains=query)
    if owner:
        models = models.filter(owner=owner)
    if stage:
        models = models.filter(versions__stage=stage).distinct()

    def version_in(stage_name):
        return Subquery(
            ModelVersion.objects.filter(model=OuterRef("pk"), stage=stage_name)
            .order_by("-version")
            .values("version")[:1]
        )

    return models.annotate(
        version_count=Count("versions", distinct=True),
        latest_version=Subquery(
            ModelVersion.objects.filter(model=OuterRef("pk")).order_by("-version").values("version")[:1]
        ),
        production_version=version_in("Production"),
        staging_version=version_in("Staging"),
    ).order_by("name")


def model_get_for_user(user, name: str) -> RegisteredModel:
    return get_object_or_404(RegisteredModel.objects.visible_to(user), name=name)


def version_get_for_user(user, name: str, version: int) -> ModelVersion:
    return get_object_or_404(
        ModelVersion.objects.select_related("model", "run").filter(model__in=RegisteredModel.objects.visible_to(user)),
        model__name=name,
        version=version,
    )


def owner_choices():
    return list(RegisteredModel.objects.exclude(owner="").values_list("owner", flat=True).distinct().order_by("owner"))
