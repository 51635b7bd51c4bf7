"""The model page: every version of a model as a plain row, sorted, one page of them, the chart."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import Subquery
from django.utils import timezone

from ..charts import Chart, metric_chart
from ..links import ModelUrls, mlflow_run_url
from ..metrics import as_number, format_metric, key_metric_names, metric_direction
from ..models import READY, ModelVersion, RegisteredModel, StageChange
from ..timeline import Timeline, stage_timeline
from .model_list import model_get_for_user

VERSIONS_PER_PAGE = 50


@dataclass
class VersionRow:
    """One row of a model's versions table: what the table, the chart and metric sorting need."""

    pk: int
    model_id: int
    version: int
    stage: str
    aliases: list
    created_at: object
    run_id: str | None
    metrics: dict
    url: str
    run_link: str  # MLflow's run page when MLFLOW_UI_URL is set, else the version page's code section
    key_values: list = field(default_factory=list)
    created_iso: str = ""
    created_text: str = ""
    status: str = ""
    status_message: str = ""

    @property
    def is_ready(self) -> bool:
        return self.status in ("", READY)


@dataclass
class ModelVersions:
    rows: list[VersionRow]
    production: VersionRow | None  # the Production version (``ModelVersion.objects.production_of``'s rule)


def model_versions(model: RegisteredModel) -> ModelVersions:
    """Every version of ``model`` with its metrics: its run's overlaid by its LoggedModel's, as
    ``ModelVersion.metrics`` (empty when neither is mirrored); and which of them is the Production version.

    Plain rows rather than model instances: a model page reads all of them (the chart and metric
    sorting need every version), and instantiating two ORM objects per version took most of the time.
    One query: the Production version's pk comes with every row, from ``in_stage`` (the one rule).
    """
    urls = ModelUrls(model.name)
    production_pk = ModelVersion.objects.filter(model=model).in_stage("Production").values("pk")[:1]
    rows, production = [], None
    # FloatMapField's from_db_value applies to the related columns too: NaN and ±inf come back as floats.
    for row in model.versions.annotate(production_pk=Subquery(production_pk)).values_list(
        "pk",
        "version",
        "stage",
        "aliases",
        "created_at",
        "run_id",
        "run__experiment_id",
        "run__metrics",
        "logged_model__metrics",
        "status",
        "status_message",
        "production_pk",
    ):
        pk, number, stage, aliases, created_at, run_id, experiment_id, run_metrics, logged_metrics, *rest = row
        url = urls.version(number)
        link = (run_metrics is not None and mlflow_run_url(experiment_id, run_id)) or f"{url}#code"
        metrics = {**(run_metrics or {}), **(logged_metrics or {})}
        version_row = VersionRow(pk, model.pk, number, stage, aliases, created_at, run_id, metrics, url, link)
        version_row.status, version_row.status_message, production_pk = rest
        rows.append(version_row)
        if pk == production_pk:
            production = version_row
    return ModelVersions(rows, production)


def with_key_values(page, names: list[str]) -> None:
    """What one table page shows, formatted once here (the template's filters cost ~40 µs a value):
    the ``names`` metrics and the creation time."""
    for version in page:
        version.key_values = [format_metric(version.metrics.get(name)) for name in names]
        if version.created_at:
            created = timezone.localtime(version.created_at)
            version.created_iso = created.isoformat()
            version.created_text = created.strftime("%Y-%m-%d %H:%M")


def sort_versions(versions: list[VersionRow], sort: str) -> list[VersionRow]:
    """``sort``: ``version``, ``created``, ``stage`` or ``metric:<name>``; a leading ``-`` reverses.

    ``metric:<name>`` with no ``-`` puts the best value first (by the metric's direction); versions
    without a finite value of the metric (missing, NaN, ∞) always come last, newest first.
    """
    descending = sort.startswith("-")
    field = sort.lstrip("-")
    if field.startswith("metric:"):
        name = field.removeprefix("metric:")
        best_first_reverse = metric_direction(name) == "higher"
        # NaN, ±inf and MLflow's ±1.8e308 stand-ins are not numbers to rank (NaN would not even sort).
        scored = [(as_number(v.metrics.get(name)), v) for v in versions]
        with_value = sorted(
            ((number, v) for number, v in scored if number is not None),
            key=lambda pair: (pair[0], pair[1].version),
            reverse=best_first_reverse != descending,
        )
        without = sorted((v for number, v in scored if number is None), key=lambda v: -v.version)
        return [v for _, v in with_value] + without
    if field == "created":
        key = lambda v: (v.created_at is not None, v.created_at or timezone.now(), v.version)  # noqa: E731
    elif field == "stage":
        order = {"Production": 0, "Staging": 1, "None": 2, "Archived": 3}
        key = lambda v: (order.get(v.stage, 4), -v.version)  # noqa: E731
    else:
        key = lambda v: v.version  # noqa: E731
    return sorted(versions, key=key, reverse=descending)


@dataclass
class ModelPage:
    """What the model page shows: one sorted page of its versions, the headline, key metrics and the chart."""

    model: RegisteredModel
    sort: str
    page: Page  # of ``VersionRow``, with their ``key_values``
    version_count: int
    key_metrics: list[str]
    all_metrics: list[str]
    chart_metric: str
    chart: Chart | None
    headline: VersionRow | None  # the Production version, else the newest

    def timeline(self) -> Timeline:
        return model_timeline(self.model)


def model_page(user, name: str, *, sort: str, chart: str = "", page_number=None) -> ModelPage:
    """The model ``name`` (404, or ``ModelRenamed``) with its versions sorted by ``sort`` (``sort_versions``).

    The key metrics always include the one sorted by; the chart shows ``chart``, else the sorted-by metric,
    else the first key metric.
    """
    model = model_get_for_user(user, name)
    versions = model_versions(model)
    rows = versions.rows
    sort_metric = sort.lstrip("-").removeprefix("metric:") if "metric:" in sort else ""
    key_metrics = key_metric_names((v.metrics for v in rows), must_include=sort_metric)
    chart_metric = chart or sort_metric or (key_metrics[0] if key_metrics else "")
    page = Paginator(sort_versions(rows, sort), VERSIONS_PER_PAGE).get_page(page_number)
    with_key_values(page, key_metrics)
    return ModelPage(
        model=model,
        sort=sort,
        page=page,
        version_count=len(rows),
        key_metrics=key_metrics,
        all_metrics=sorted({metric for v in rows for metric in v.metrics}),
        chart_metric=chart_metric,
        chart=metric_chart(chart_metric, rows) if chart_metric else None,
        headline=versions.production or (max(rows, key=lambda v: v.version) if rows else None),
    )


def model_timeline(model: RegisteredModel) -> Timeline:
    """The stage history, each interval with the ``.url`` of its version."""
    timeline = stage_timeline(StageChange.objects.of_model(model), now=timezone.now())
    urls = ModelUrls(model.name)
    for lane in timeline.lanes:
        for interval in lane.intervals:
            interval.url = urls.version(interval.version)
    return timeline
