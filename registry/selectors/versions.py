"""A version and what its review page compares it with."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch
from django.http import Http404

from ..metrics import MetricDelta, ParamDiff, metric_deltas, params_diff
from ..models import ModelOwner, ModelVersion, RegisteredModel, Run, RunInput, StageChange
from .model_list import _raise_if_renamed


def version_get_for_user(user, name: str, version: int) -> ModelVersion:
    """Version ``version`` of model ``name``; 404, or ``ModelRenamed`` when the model was renamed since."""
    # The model's owners prefetched: every "may this user..." on the page asks ``roles.is_owner`` at no query.
    versions = ModelVersion.objects.select_related("model", "run", "logged_model").prefetch_related(
        Prefetch("model__owners", queryset=ModelOwner.objects.select_related("user", "group").order_by("id"))
    )
    try:
        return versions.get(model__in=RegisteredModel.objects.visible_to(user), model__name=name, version=version)
    except ModelVersion.DoesNotExist:
        if not RegisteredModel.objects.visible_to(user).filter(name=name).exists():
            _raise_if_renamed(user, name)
        raise Http404("No such model version in the mirror.") from None


@dataclass(frozen=True)
class ProductionComparison:
    """A version against its model's Production version: what "metrics against Production" shows
    (``templates/registry/metric_deltas.html``)."""

    version: ModelVersion
    production: ModelVersion | None  # None when the model has none, or it is ``version`` itself
    deltas: list[MetricDelta]

    @property
    def is_compared(self) -> bool:
        """Whether there is a Production version to compare with, and its metrics are known."""
        return self.production is not None and self.production.is_measured


def production_comparison(version: ModelVersion) -> ProductionComparison:
    """``version`` (with ``run`` and ``logged_model``) against the Production version (the newest one,
    ``production_of``), never against itself; one query.

    Without a run or LoggedModel there is nothing of ``version`` to compare: no rows, not all "missing".
    """
    production = ModelVersion.objects.production_of(version.model_id)
    if production is not None and production.pk == version.pk:
        production = None
    baseline = production.metrics if production is not None and production.is_measured else None
    return ProductionComparison(
        version, production, metric_deltas(version.metrics, baseline) if version.is_measured else []
    )


@dataclass
class VersionReview:
    version: ModelVersion
    comparison: ProductionComparison
    inputs: list[RunInput]
    history: list[StageChange]

    @property
    def run(self) -> Run | None:
        return self.version.mirrored_run

    @property
    def production(self) -> ModelVersion | None:
        """The version compared against: None when there is none, or it is this one."""
        return self.comparison.production

    @property
    def is_production(self) -> bool:
        return self.version.stage == "Production" and self.production is None

    @property
    def is_measured(self) -> bool:
        """Whether the version has a mirrored run or LoggedModel: its metrics and params are known."""
        return self.version.is_measured

    @property
    def is_compared(self) -> bool:
        return self.comparison.is_compared

    @property
    def params(self) -> list[ParamDiff]:
        """The version's params, diffed against Production's when compared; none without a run or LoggedModel."""
        if not self.is_measured:
            return []
        return params_diff(self.version.params, self.production.params if self.is_compared else None)


def version_review_for_user(user, name: str, version: int) -> VersionReview:
    model_version = version_get_for_user(user, name, version)
    return VersionReview(
        version=model_version,
        comparison=production_comparison(model_version),
        inputs=version_inputs(model_version),
        history=list(StageChange.objects.of_version(model_version)),
    )


def version_inputs(version: ModelVersion) -> list[RunInput]:
    run = version.mirrored_run
    if run is None:
        return []
    return list(RunInput.objects.filter(run_id=run.pk).select_related("dataset").order_by("context", "dataset__name"))
