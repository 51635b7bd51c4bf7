"""Reads that depend on who asks. Views never call ``.objects.get`` on protected data.

Every page's reads are a fixed number of queries, whatever the number of models or versions: lists
are paginated in the database, and what a page needs for many rows comes in one query per kind.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.humanize.templatetags.humanize import naturaltime
from django.core.paginator import Page, Paginator
from django.db.models import Count, DateTimeField, Exists, OuterRef, Q, Subquery, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from .links import ModelUrls, mlflow_run_url
from .metrics import as_number, format_metric, metric_direction
from .models import (
    READY,
    Dataset,
    ModelRename,
    ModelVersion,
    RegisteredModel,
    Run,
    RunInput,
    StageChange,
    SyncRun,
)
from .timeline import Timeline, stage_timeline

MODELS_PER_PAGE = 50
VERSIONS_PER_PAGE = 50
REVERSE_PER_PAGE = 50
SEARCH_LIMIT = 20
MIN_COMMIT_PREFIX = 4


def model_list_for_user(user, *, query: str = "", stage: str = "", alias: str = "", tag: str = "", owner: str = ""):
    """Models with their latest/Production/Staging version numbers; ``tag`` is ``key`` or ``key=value``."""
    models = RegisteredModel.objects.visible_to(user)
    if query:
        models = models.filter(name__icontains=query)
    if owner:
        models = models.filter(owner=owner)
    if stage:
        models = models.filter(Exists(ModelVersion.objects.filter(model=OuterRef("pk"), stage=stage)))
    if alias:
        models = models.filter(aliases__has_key=alias)
    if tag:
        key, has_value, value = tag.partition("=")
        key = key.strip()
        # KeyTextTransform takes the key as data, so any key (even one containing "__") is safe; the Cast
        # keeps SQLite from reading the compared value as JSON.
        models = (
            models.alias(tag_value=Cast(KeyTextTransform(key, "tags"), TextField())).filter(tag_value=value.strip())
            if has_value
            else models.filter(tags__has_key=key)
        )

    def version_in(stage_name):
        return Subquery(
            ModelVersion.objects.filter(model=OuterRef("pk"), stage=stage_name)
            .order_by("-version")
            .values("version")[:1]
        )

    # Correlated subqueries rather than GROUP BY: the database evaluates them for one page only.
    return models.annotate(
        version_count=Coalesce(
            Subquery(
                ModelVersion.objects.filter(model=OuterRef("pk"))
                .order_by()
                .values("model")
                .annotate(n=Count("pk"))
                .values("n")
            ),
            0,
        ),
        latest_version=Subquery(
            ModelVersion.objects.filter(model=OuterRef("pk")).order_by("-version").values("version")[:1]
        ),
        production_version=version_in("Production"),
        staging_version=version_in("Staging"),
    ).order_by("name")


def model_list_page(user, filters: dict, page_number) -> Page:
    page = Paginator(model_list_for_user(user, **filters), MODELS_PER_PAGE).get_page(page_number)
    synced = last_synced_at([m.name for m in page])
    # Most rows share the whole-registry sync's time: humanize each distinct time once.
    humanized = {at: naturaltime(at) for at in set(synced.values()) if at}
    for model in page:
        model.last_synced = synced.get(model.name)
        model.last_synced_text = humanized.get(model.last_synced, "")
        model.urls = ModelUrls(model.name)
    return page


def last_synced_at(names: list[str]) -> dict:
    """When each model was last covered by a sync that wrote it: a whole-registry one or its own, succeeded,
    or partial without this model among its ``failures``.

    One query, newest first, read until every name has its time: the latest whole-registry success
    covers everyone, so nothing older is read.
    """
    if not names:
        return {}
    last_whole_success = Subquery(
        SyncRun.objects.filter(model_name="", status=SyncRun.SUCCEEDED)
        .order_by("-finished_at")
        .values("finished_at")[:1]
    )
    covering = (
        SyncRun.objects.filter(Q(model_name="") | Q(model_name__in=names))
        .filter(status__in=[SyncRun.SUCCEEDED, SyncRun.PARTIAL], finished_at__isnull=False)
        .filter(
            finished_at__gte=Coalesce(
                last_whole_success, Value(dt.datetime.min.replace(tzinfo=dt.UTC)), output_field=DateTimeField()
            )
        )
        .order_by("-finished_at")
        .values_list("model_name", "status", "failures", "finished_at")
    )
    synced: dict = {}
    for model_name, status, failures, finished_at in covering.iterator():
        covered = [model_name] if model_name else names
        for name in covered:
            if name not in synced and (status == SyncRun.SUCCEEDED or name not in (failures or {})):
                synced[name] = finished_at
        if len(synced) == len(names):
            break
    return {name: synced.get(name) for name in names}


def owner_choices():
    return list(RegisteredModel.objects.exclude(owner="").values_list("owner", flat=True).distinct().order_by("owner"))


class ModelRenamed(Exception):
    """The model asked for by name was renamed in MLflow: its pages now live under ``new_name``."""

    def __init__(self, new_name: str):
        super().__init__(new_name)
        self.new_name = new_name


def _raise_if_renamed(user, name: str) -> None:
    """Raise ``ModelRenamed`` when ``name`` (no model has it now) was renamed to a model that exists,
    following renames of renames (A → B → C); a cycle of renames ends the search."""
    seen = {name}
    current = name
    while True:
        rename = ModelRename.objects.filter(old_name=current).order_by("-renamed_at", "-id").first()
        if rename is None or rename.new_name in seen:
            return
        current = rename.new_name
        if RegisteredModel.objects.visible_to(user).filter(name=current).exists():
            raise ModelRenamed(current)
        seen.add(current)


def model_get_for_user(user, name: str) -> RegisteredModel:
    """The model named ``name``; 404, or ``ModelRenamed`` when it was renamed since."""
    try:
        return RegisteredModel.objects.visible_to(user).get(name=name)
    except RegisteredModel.DoesNotExist:
        _raise_if_renamed(user, name)
        raise Http404("No such model in the mirror.") from None


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


def model_versions(model: RegisteredModel) -> list[VersionRow]:
    """Every version of ``model`` with its metrics: its run's overlaid by its LoggedModel's, as
    ``ModelVersion.metrics`` (empty when neither is mirrored).

    Plain rows rather than model instances: a model page reads all of them (the chart and metric
    sorting need every version), and instantiating two ORM objects per version took most of the time.
    """
    urls = ModelUrls(model.name)
    rows = []
    # FloatMapField's from_db_value applies to the related columns too: NaN and ±inf come back as floats.
    for row in model.versions.values_list(
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
    ):
        pk, number, stage, aliases, created_at, run_id, experiment_id, run_metrics, logged_metrics, *status = row
        url = urls.version(number)
        link = (run_metrics is not None and mlflow_run_url(experiment_id, run_id)) or f"{url}#code"
        metrics = {**(run_metrics or {}), **(logged_metrics or {})}
        version_row = VersionRow(pk, model.pk, number, stage, aliases, created_at, run_id, metrics, url, link)
        version_row.status, version_row.status_message = status
        rows.append(version_row)
    return rows


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


def model_timeline(model: RegisteredModel) -> Timeline:
    """The stage history, each interval with the ``.url`` of its version."""
    timeline = stage_timeline(StageChange.objects.of_model(model), now=timezone.now())
    urls = ModelUrls(model.name)
    for lane in timeline.lanes:
        for interval in lane.intervals:
            interval.url = urls.version(interval.version)
    return timeline


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


def _versions_of_runs(user, runs) -> object:
    """Visible versions whose run is in ``runs`` (a query of Run rows), newest model activity first."""
    return (
        ModelVersion.objects.filter(
            model__in=RegisteredModel.objects.visible_to(user), run_id__in=runs.values("run_id")
        )
        .select_related("model", "run")
        .defer("description", "tags", "source", "run__params", "run__metrics", "run__tags")
        # The commit exactly as MLflow holds it, without reading every run's tags.
        .annotate(run_commit=Cast(KeyTextTransform("mlflow.source.git.commit", "run__tags"), TextField()))
        .order_by("model__name", "-version")
    )


@dataclass
class ReverseLineage:
    """Every version trained from a dataset digest or a commit, with a count per stage."""

    page: Page
    stage_counts: dict[str, int]
    stage: str


def _reverse_lineage(versions, *, stage: str, page_number) -> ReverseLineage:
    counts = dict(versions.order_by().values("stage").annotate(n=Count("pk")).values_list("stage", "n"))
    if stage:
        versions = versions.filter(stage=stage)
    page = Paginator(versions, REVERSE_PER_PAGE).get_page(page_number)
    return ReverseLineage(page=page, stage_counts=counts, stage=stage)


def dataset_get_for_user(user, pk: int) -> Dataset:
    if not user.is_authenticated:
        raise Http404
    return get_object_or_404(Dataset, pk=pk)


def datasets_by_digest(user, digest: str) -> list[Dataset]:
    """All datasets with ``digest`` (one digest may be logged under several names), or 404."""
    if not user.is_authenticated:
        raise Http404
    datasets = list(Dataset.objects.filter(digest=digest))
    if not datasets:
        raise Http404("No dataset with this digest has been mirrored.")
    return datasets


def versions_trained_on(user, datasets: list[Dataset], *, stage: str = "", page_number=None) -> ReverseLineage:
    runs = Run.objects.filter(inputs__dataset__in=datasets)
    lineage = _reverse_lineage(_versions_of_runs(user, runs), stage=stage, page_number=page_number)
    _attach_contexts(lineage.page, datasets)
    return lineage


def _attach_contexts(page: Page, datasets: list[Dataset]) -> None:
    """How each listed version's run used the datasets (``training``, ``evaluation``...): one query."""
    run_ids = {v.run_id for v in page}
    contexts: dict[str, set[str]] = {}
    for run_id, context in RunInput.objects.filter(dataset__in=datasets, run__run_id__in=run_ids).values_list(
        "run__run_id", "context"
    ):
        contexts.setdefault(run_id, set()).add(context or "unspecified")
    for version in page:
        version.contexts = sorted(contexts.get(version.run_id, ()))


def commits_matching(user, prefix: str) -> list[str]:
    """Full commit hashes starting with ``prefix`` (at most ``SEARCH_LIMIT``), or 404."""
    if not user.is_authenticated or len(prefix) < MIN_COMMIT_PREFIX:
        raise Http404
    commits = list(
        Run.objects.filter(git_commit__startswith=prefix.lower())
        .order_by("git_commit")
        .values_list("git_commit", flat=True)
        .distinct()[:SEARCH_LIMIT]
    )
    if not commits:
        raise Http404("No mirrored run was trained from a commit with this prefix.")
    return commits


def versions_from_commit(user, prefix: str, *, stage: str = "", page_number=None) -> ReverseLineage:
    runs = Run.objects.filter(git_commit__startswith=prefix.lower())
    return _reverse_lineage(_versions_of_runs(user, runs), stage=stage, page_number=page_number)


@dataclass
class LineageSearch:
    datasets: list[Dataset]
    commits: list[dict]


def lineage_search(user, query: str) -> LineageSearch:
    """Datasets whose name contains ``query`` or whose digest starts with it; commits starting with it."""
    if not user.is_authenticated or not query:
        return LineageSearch([], [])
    lowered = query.lower()
    datasets = list(
        Dataset.objects.filter(Q(name__icontains=query) | Q(digest__startswith=lowered))
        .annotate(run_count=Count("run_inputs__run", distinct=True))
        .order_by("name", "digest")[:SEARCH_LIMIT]
    )
    commits = []
    if len(query) >= MIN_COMMIT_PREFIX and all(c in "0123456789abcdef" for c in lowered):
        commits = list(
            Run.objects.filter(git_commit__startswith=lowered)
            .values("git_commit")
            .annotate(run_count=Count("pk"))
            .order_by("git_commit")[:SEARCH_LIMIT]
        )
    return LineageSearch(datasets, commits)


def sync_run_latest_running() -> SyncRun | None:
    return SyncRun.objects.filter(status=SyncRun.RUNNING).order_by("-started_at", "-id").first()
