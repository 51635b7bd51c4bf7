"""API v1 of the registry mirror: models, versions, lineage, datasets, sync (docs/api.md).

Every read goes through ``registry.selectors`` (visibility, renames, 404s), every write through
``registry.services`` after asking ``registry.access``; this module parses and serialises, nothing more.
Metric values may be NaN or ±inf (MLflow stores them): they are answered as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (``registry.fields.encode_float``), so every response is valid JSON.
"""

import datetime as dt
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Path, Query, Router, Schema
from ninja.pagination import paginate

from . import api_extras, selectors, services
from .fields import encode_floats
from .lineage import version_lineage
from .models import MODEL_NAME_LENGTH, STAGES, SyncRun

router = Router(tags=["registry"])

NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refused as input, never a 500
MAX_NUMBER = 2**31 - 1
Stage = Literal[STAGES]  # type: ignore[valid-type]
ModelName = Annotated[
    str, Path(max_length=MODEL_NAME_LENGTH, pattern=NO_NUL, description="the registered model's name")
]
VersionNumber = Annotated[int, Path(ge=1, le=MAX_NUMBER)]
METRIC_DESCRIPTION = (
    'metric name → value; NaN and ±infinity (which JSON cannot hold) are the strings "NaN", "Infinity", "-Infinity"'
)
Metric = float | Literal["NaN", "Infinity", "-Infinity"]


def _text(max_length: int, description: str = ""):
    return Field("", max_length=max_length, pattern=NO_NUL, description=description)


class ModelFilters(Schema):
    q: str = _text(255, "name contains (case-insensitive)")
    stage: Stage | Literal[""] = Field("", description="has a version in this stage")
    alias: str = _text(255, "has this alias")
    tag: str = _text(500, "key, or key=value")
    owner: str = _text(255, "owned in the portal by this user name (directly or through a group)")


class OwnerOut(Schema):
    user: str | None = Field(description="a user who owns the model in the portal")
    group: str | None = Field(description="a group whose members own the model")


class ModelOut(Schema):
    name: str
    description: str
    owners: list[OwnerOut] = Field(
        description="the portal's owners (assigned by admins): they edit cards, file requests"
    )
    owner_tag: str = Field(description="MLflow's owner tag: a suggestion, it grants nothing (docs/roles.md)")
    owner_tag_flagged_at: dt.datetime | None = Field(
        description="set when sync saw the owner tag change, until an admin accepts or dismisses it"
    )
    tags: dict[str, str]
    aliases: dict[str, int] = Field(description="alias → version number")
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    version_count: int
    latest_version: int | None
    production_version: int | None = Field(description="the newest version in Production")
    staging_version: int | None
    sync_error: str = Field(description="set when the last sync of this model failed: the mirror is stale")
    stale_since: dt.datetime | None

    @staticmethod
    def resolve_owners(obj) -> list[dict]:
        return [
            {
                "user": row.user.get_username() if row.user_id else None,
                "group": row.group.name if row.group_id else None,
            }
            for row in obj.owners.all()
        ]


class ModelDetailOut(ModelOut):
    last_synced_at: dt.datetime | None = Field(description="when a sync last covered this model")
    extras: dict[str, Any] = Field(
        description="what other apps add (registry.api_extras.register_model): e.g. risk_tier"
    )


class DatasetInputOut(Schema):
    name: str
    digest: str
    context: str
    source_type: str
    source: str


class RunOut(Schema):
    run_id: str
    mirrored: bool = Field(description="false: the version names a run the mirror does not hold")
    experiment_id: str | None = None
    experiment_name: str | None = None
    run_name: str | None = None
    user: str | None = None
    status: str | None = None
    lifecycle_stage: str | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    metrics: dict[str, Metric] = Field(default_factory=dict, description=METRIC_DESCRIPTION)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    commit: str | None = Field(None, description="mlflow.source.git.commit exactly as MLflow holds it")


class LoggedModelOut(Schema):
    model_id: str
    source_run_id: str
    metrics: dict[str, Metric] = Field(description=METRIC_DESCRIPTION)
    params: dict[str, str]
    tags: dict[str, str]


class VersionOut(Schema):
    model: str
    version: int
    stage: str
    aliases: list[str]
    status: str
    status_message: str
    description: str
    source: str
    tags: dict[str, str]
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    run: RunOut | None
    logged_model: LoggedModelOut | None
    metrics: dict[str, Metric] = Field(description=METRIC_DESCRIPTION + "; the run's, overlaid by the LoggedModel's")
    params: dict[str, str]
    datasets: list[DatasetInputOut]
    commit: str | None
    extras: dict[str, Any] = Field(
        description="what other apps add (registry.api_extras): e.g. card, open_request, latest_check_run"
    )


class LineageNodeOut(Schema):
    id: str
    kind: str
    label: str
    detail: str
    url: str | None


class LineageEdgeOut(Schema):
    source: str
    target: str


class LineageOut(Schema):
    model: str
    version: int
    stage: str
    status: str
    status_message: str
    aliases: list[str]
    url: str
    run: dict[str, Any] | None
    logged_model: dict[str, Any] | None
    datasets: list[dict[str, Any]]
    nodes: list[LineageNodeOut]
    edges: list[LineageEdgeOut]


class DatasetOut(Schema):
    name: str
    digest: str
    source_type: str
    source: str


class TrainedVersionOut(Schema):
    model: str
    version: int
    stage: str
    aliases: list[str]
    run_id: str | None
    commit: str | None
    contexts: list[str] = Field(description="how the run used the dataset: training, evaluation...")


class DatasetVersionsOut(Schema):
    digest: str
    datasets: list[DatasetOut]
    stage_counts: dict[str, int]
    items: list[TrainedVersionOut]
    count: int
    page: int
    num_pages: int


class SyncStartedOut(Schema):
    sync_run_id: int
    status: str


class SyncRunOut(Schema):
    id: int
    status: str
    mode: str
    model_name: str = Field(description="empty: the whole registry")
    trigger: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    is_done: bool
    counts: dict[str, Any]
    error: str
    failures: dict[str, str] = Field(description="model name → error, for each model that failed alone")


def _run_out(version) -> dict | None:
    if not version.run_id:
        return None
    run = version.mirrored_run
    if run is None:
        return {"run_id": version.run_id, "mirrored": False}
    return {
        "run_id": run.run_id,
        "mirrored": True,
        **{f: getattr(run, f) for f in ("experiment_id", "experiment_name", "run_name", "user", "status")},
        **{f: getattr(run, f) for f in ("lifecycle_stage", "start_time", "end_time", "params", "tags")},
        "metrics": encode_floats(run.metrics),
        "commit": run.commit or None,
    }


def _logged_model_out(version) -> dict | None:
    logged = version.mirrored_logged_model
    if logged is None:
        return None
    return {
        "model_id": logged.model_id,
        "source_run_id": logged.source_run_id,
        "metrics": encode_floats(logged.metrics),
        "params": logged.params,
        "tags": logged.tags,
    }


@router.get("/models", response=list[ModelOut], summary="Models the caller may see")
@paginate  # registry_portal.pagination.PageNumbers (NINJA_PAGINATION_CLASS)
def model_list(request, filters: Query[ModelFilters]):
    """Filtered, by name; page-number pagination: ``page`` (from 1) and ``page_size`` (default 50, at most 200)."""
    if filters.tag.startswith("="):
        raise ValidationError({"tag": ["Write the tag as key or key=value."]})
    models = selectors.model_list_for_user(
        request.user, query=filters.q, stage=filters.stage, alias=filters.alias, tag=filters.tag, owner=filters.owner
    )
    return selectors.with_owners(models)


@router.get("/models/{name}", response=ModelDetailOut, summary="One model")
def model_detail(request, name: ModelName):
    model = selectors.model_get_for_user(request.user, name)
    row = selectors.with_owners(selectors.model_list_for_user(request.user)).get(pk=model.pk)
    row.last_synced_at = selectors.last_synced_at([row.name])[row.name]
    row.extras = api_extras.model_extras_for(request.user, row)
    return row


@router.get("/models/{name}/versions/{version}", response=VersionOut, summary="One model version")
def version_detail(request, name: ModelName, version: VersionNumber):
    model_version = selectors.version_get_for_user(request.user, name, version)
    run = model_version.mirrored_run
    return {
        "model": model_version.model.name,
        **{f: getattr(model_version, f) for f in ("version", "stage", "aliases", "status", "status_message")},
        **{f: getattr(model_version, f) for f in ("description", "source", "tags", "created_at", "updated_at")},
        "run": _run_out(model_version),
        "logged_model": _logged_model_out(model_version),
        "metrics": encode_floats(model_version.metrics),
        "params": model_version.params,
        "datasets": [
            {
                "name": i.dataset.name,
                "digest": i.dataset.digest,
                "context": i.context,
                "source_type": i.dataset.source_type,
                "source": i.dataset.source,
            }
            for i in selectors.version_inputs(model_version)
        ],
        "commit": (run.commit or None) if run else None,
        "extras": api_extras.extras_for(request.user, model_version),
    }


@router.get("/models/{name}/versions/{version}/lineage", response=LineageOut, summary="A version's lineage graph")
def version_lineage_graph(request, name: ModelName, version: VersionNumber):
    """Nodes (datasets, run, LoggedModel, version, model) and edges, as the lineage page draws them."""
    model_version = selectors.version_get_for_user(request.user, name, version)
    return version_lineage(model_version, selectors.version_inputs(model_version)).as_json()


@router.get("/datasets/{digest}/versions", response=DatasetVersionsOut, summary="Versions trained on a dataset")
def dataset_versions(
    request,
    digest: Annotated[str, Path(max_length=64, pattern=NO_NUL)],
    stage: Stage | Literal[""] = "",
    page: Annotated[int, Query(ge=1, le=MAX_NUMBER)] = 1,
):
    """Every visible version whose run used a dataset with this digest; 50 a page (a page past the end answers
    the last one: compare ``page`` with ``num_pages``)."""
    datasets = selectors.datasets_by_digest(request.user, digest)
    lineage = selectors.versions_trained_on(request.user, datasets, stage=stage, page_number=page)
    return {
        "digest": digest,
        "datasets": [
            {"name": d.name, "digest": d.digest, "source_type": d.source_type, "source": d.source} for d in datasets
        ],
        "stage_counts": lineage.stage_counts,
        "items": [
            {
                "model": v.model.name,
                "version": v.version,
                "stage": v.stage,
                "aliases": v.aliases,
                "run_id": v.run_id,
                "commit": v.run_commit or None,
                "contexts": v.contexts,
            }
            for v in lineage.page
        ],
        "count": lineage.page.paginator.count,
        "page": lineage.page.number,
        "num_pages": lineage.page.paginator.num_pages,
    }


class TooSoonOut(Schema):
    detail: str
    code: str = "too_soon"
    retry_after: int = Field(description="seconds until a sync of this scope is accepted again")


def _sync_now(request, model=None):
    try:
        sync_run = services.sync_now(actor=request.user, model=model)
    except services.SyncTooSoon as too_soon:
        body = {"detail": str(too_soon), "code": "too_soon", "retry_after": too_soon.retry_after}
        response = JsonResponse(body, status=429)
        response["Retry-After"] = str(too_soon.retry_after)
        return response
    return 202, {"sync_run_id": sync_run.pk, "status": sync_run.status}


@router.post(
    "/sync", response={202: SyncStartedOut, 429: TooSoonOut}, summary="Sync the whole registry from MLflow now"
)
def sync_start(request):
    """A reconcile of the whole registry, queued (one already running is answered instead); poll ``/sync/{id}``.
    Reviewers, ML leads and admins; at most once a minute (429 with ``retry_after`` inside it)."""
    return _sync_now(request)


@router.post(
    "/models/{name}/sync", response={202: SyncStartedOut, 429: TooSoonOut}, summary="Sync one model from MLflow now"
)
def model_sync_start(request, name: ModelName):
    """A sync of one model, queued: its owners, reviewers, ML leads and admins; at most once a minute per model."""
    return _sync_now(request, selectors.model_get_for_user(request.user, name))


@router.get("/sync/{sync_run_id}", response=SyncRunOut, summary="A sync run's status")
def sync_detail(request, sync_run_id: Annotated[int, Path(ge=1, le=MAX_NUMBER)]):
    sync_run = get_object_or_404(SyncRun, pk=sync_run_id)
    return {
        "id": sync_run.pk,
        "is_done": sync_run.is_done,
        **{f: getattr(sync_run, f) for f in ("status", "mode", "model_name", "trigger", "started_at", "finished_at")},
        **{f: getattr(sync_run, f) for f in ("counts", "error", "failures")},
    }
