"""A version and what its review page compares it with."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404

from ..models import ModelVersion, RegisteredModel, Run, RunInput, StageChange
from .model_list import _raise_if_renamed


def version_get_for_user(user, name: str, version: int) -> ModelVersion:
    """Version ``version`` of model ``name``; 404, or ``ModelRenamed`` when the model was renamed since."""
    versions = ModelVersion.objects.select_related("model", "run", "logged_model")
    try:
        return versions.get(model__in=RegisteredModel.objects.visible_to(user), model__name=name, version=version)
    except ModelVersion.DoesNotExist:
        if not RegisteredModel.objects.visible_to(user).filter(name=name).exists():
            _raise_if_renamed(user, name)
        raise Http404("No such model version in the mirror.") from None


@dataclass
class VersionReview:
    version: ModelVersion
    production: ModelVersion | None  # the version compared against: None when there is none, or it is this one
    inputs: list[RunInput]
    history: list[StageChange]

    @property
    def run(self) -> Run | None:
        return self.version.mirrored_run

    @property
    def is_production(self) -> bool:
        return self.version.stage == "Production" and self.production is None

    @property
    def production_run(self) -> Run | None:
        return self.production.mirrored_run if self.production else None

    @property
    def is_measured(self) -> bool:
        """Whether the version has a mirrored run or LoggedModel: its metrics and params are known."""
        return self.version.is_measured

    @property
    def is_compared(self) -> bool:
        """Whether there is a Production version to compare with, and its metrics are known."""
        return self.production is not None and self.production.is_measured


def version_review_for_user(user, name: str, version: int) -> VersionReview:
    model_version = version_get_for_user(user, name, version)
    # Several versions can be in Production when transitions did not archive: compare with the newest.
    production = (
        ModelVersion.objects.select_related("run", "logged_model")
        .filter(model_id=model_version.model_id, stage="Production")
        .order_by("-version")
        .first()
    )
    if production is not None and production.pk == model_version.pk:
        production = None
    return VersionReview(
        version=model_version,
        production=production,
        inputs=version_inputs(model_version),
        history=list(StageChange.objects.of_version(model_version)),
    )


def version_inputs(version: ModelVersion) -> list[RunInput]:
    run = version.mirrored_run
    if run is None:
        return []
    return list(RunInput.objects.filter(run_id=run.pk).select_related("dataset").order_by("context", "dataset__name"))
