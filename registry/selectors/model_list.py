"""The model list: models a user may see, with their stage versions and last sync; a model by name."""

from __future__ import annotations

import datetime as dt

from django.contrib.humanize.templatetags.humanize import naturaltime
from django.core.paginator import Page, Paginator
from django.db.models import Count, DateTimeField, Exists, OuterRef, Q, Subquery, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.http import Http404

from ..links import ModelUrls
from ..models import ModelRename, ModelVersion, RegisteredModel, SyncRun
from .owners import owned_by, tag_suggestion, with_owners

MODELS_PER_PAGE = 50


def model_list_for_user(user, *, query: str = "", stage: str = "", alias: str = "", tag: str = "", owner: str = ""):
    """Models with their latest/Production/Staging version numbers; ``tag`` is ``key`` or ``key=value``."""
    models = RegisteredModel.objects.visible_to(user)
    if query:
        models = models.filter(name__icontains=query)
    if owner:
        models = models.filter(owned_by(owner))
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
        return Subquery(ModelVersion.objects.filter(model=OuterRef("pk")).in_stage(stage_name).values("version")[:1])

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
    page = Paginator(with_owners(model_list_for_user(user, **filters)), MODELS_PER_PAGE).get_page(page_number)
    synced = last_synced_at([m.name for m in page])
    # Most rows share the whole-registry sync's time: humanize each distinct time once.
    humanized = {at: naturaltime(at) for at in set(synced.values()) if at}
    for model in page:
        model.last_synced = synced.get(model.name)
        model.last_synced_text = humanized.get(model.last_synced, "")
        model.urls = ModelUrls(model.name)
        model.owner_suggestion = tag_suggestion(model)
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
        return with_owners(RegisteredModel.objects.visible_to(user)).get(name=name)
    except RegisteredModel.DoesNotExist:
        _raise_if_renamed(user, name)
        raise Http404("No such model in the mirror.") from None


def sync_run_latest_running() -> SyncRun | None:
    return SyncRun.objects.filter(status=SyncRun.RUNNING).order_by("-started_at", "-id").first()
