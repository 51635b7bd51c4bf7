"""One model's mirror: its fields, aliases and versions written against what MLflow returned (``_sync_model``),
the check that nothing changed, re-created names and numbers, stage and alias history, deletion, audit targets."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

from django.utils import timezone

from audit.services import PendingEvent, Target, record_many

from ..mlflow_data import ModelData, VersionData
from ..models import OWNER_LENGTH, ModelVersion, RegisteredModel, StageChange, SyncRun
from ..signals import versions_removed
from .common import ACTOR


def owner_of(tags: dict) -> str:
    """The ``owner`` tag as a suggested owner (a user name), or empty: a tag value longer than any user name
    (MLflow allows 100,000 characters) names nobody; the tag itself is mirrored as it is. It grants nothing:
    the portal's owners are ``ModelOwner`` rows (docs/roles.md)."""
    owner = tags.get("owner", "")
    return owner if len(owner) <= OWNER_LENGTH else ""


def _model_fields(model: ModelData) -> dict:
    return {
        "description": model.description,
        "tags": model.tags,
        "aliases": model.aliases,
        "owner_tag": owner_of(model.tags),
        "created_at": model.created_at,
        "updated_at": model.updated_at,
    }


VERSION_FIELDS = (
    "stage",
    "aliases",
    "status",
    "status_message",
    "run_id",
    "logged_model_id",
    "source",
    "description",
    "tags",
    "created_at",
    "updated_at",
)


def _version_fields(version: VersionData, aliases: list[str]) -> dict:
    """The mirror's fields of one version, in ``VERSION_FIELDS`` order."""
    return {
        "stage": version.stage,
        "aliases": aliases,
        "status": version.status,
        "status_message": version.status_message,
        "run_id": version.run_id or None,
        "logged_model_id": version.logged_model_id or None,
        "source": version.source,
        "description": version.description,
        "tags": version.tags,
        "created_at": version.created_at,
        "updated_at": version.updated_at,
    }


def _aliases_by_version(data: ModelData) -> dict[int, list[str]]:
    by_version: dict[int, list[str]] = defaultdict(list)
    for alias, number in data.aliases.items():
        by_version[number].append(alias)
    return by_version


def _unchanged(data: ModelData, versions: list[VersionData], model: RegisteredModel, existing: dict) -> bool:
    """``existing``: version number -> the mirror's ``VERSION_FIELDS`` values, as a tuple."""
    if any(getattr(model, k) != v for k, v in _model_fields(data).items()):
        return False
    if len(versions) != len(existing):
        return False
    aliases = _aliases_by_version(data)
    for version in versions:
        row = existing.get(version.version)
        if row is None or row != tuple(_version_fields(version, sorted(aliases.get(version.version, []))).values()):
            return False
    return True


def _same_incarnation(created_in_mirror: dt.datetime | None, created_in_mlflow: dt.datetime | None) -> bool:
    """A name (or version number) MLflow re-used for a new entity shows a different creation time."""
    return created_in_mirror is None or created_in_mlflow is None or created_in_mirror == created_in_mlflow


def _sync_model(
    data: ModelData,
    versions: list[VersionData],
    model: RegisteredModel | None,
    existing: dict[int, ModelVersion],
    sync_run: SyncRun,
    counts: Counter,
    events: list[PendingEvent],
) -> None:
    """Write one model's mirror; its audit events are appended to ``events`` for the caller to record."""
    changes: list[StageChange] = []
    fields = {**_model_fields(data), "sync_error": "", "stale_since": None}
    if model is not None and not _same_incarnation(model.created_at, data.created_at):
        # Deleted and created again under the same name: the old model's history must not attach to the new one.
        _delete_model(model, counts, reason="re-created in MLflow under the same name")
        model, existing = None, {}
    # The row a failed first sync left to say the model is stale: this sync is the model's first mirror.
    placeholder = model is not None and model.created_at is None and not existing
    if model is None or placeholder:
        fields["mirrored_since"] = timezone.now()
        if placeholder:
            for key, value in fields.items():
                setattr(model, key, value)
            model.save()
        else:
            model = RegisteredModel.objects.create(name=data.name, **fields)
        counts["models_created"] += 1
        events.append(
            PendingEvent(ACTOR, "registry.model_created", _model_target(data.name), {"owner_tag": model.owner_tag})
        )
        _alias_changes(data.name, {}, data.aliases, sync_run, events, changes)
    else:
        before = {k: getattr(model, k) for k in fields}
        changed = [k for k, v in fields.items() if before[k] != v]
        if "owner_tag" in changed:
            # A suggestion that changed: flagged until an admin accepts (makes them owner) or dismisses it.
            fields.update(owner_tag_flagged_at=timezone.now(), owner_tag_previous=before["owner_tag"])
            changed += ["owner_tag_flagged_at", "owner_tag_previous"]
            events.append(
                PendingEvent(
                    ACTOR,
                    "registry.owner_tag_changed",
                    _model_target(data.name),
                    {"from": before["owner_tag"], "to": fields["owner_tag"], "grants": "nothing"},
                )
            )
        if changed:
            for key in changed:
                setattr(model, key, fields[key])
            model.save(update_fields=changed)
            counts["models_updated"] += 1
            described = {
                k: {"from": before[k], "to": fields[k]}
                for k in changed
                if k
                not in (
                    "updated_at",
                    "aliases",
                    "sync_error",
                    "stale_since",
                    "owner_tag_flagged_at",
                    "owner_tag_previous",
                )
            }
            if described:
                events.append(PendingEvent(ACTOR, "registry.model_updated", _model_target(data.name), described))
        _alias_changes(data.name, before["aliases"], data.aliases, sync_run, events, changes)

    aliases_by_version = _aliases_by_version(data)
    new_rows = []
    replaced = []
    for version in versions:
        target = version_target(data.name, version.version)
        wanted = _version_fields(version, sorted(aliases_by_version.get(version.version, [])))
        row = existing.pop(version.version, None)
        if row is not None and not _same_incarnation(row.created_at, version.created_at):
            replaced.append(row)
            row = None
        if row is None:
            new_rows.append(ModelVersion(model=model, version=version.version, mirrored_since=timezone.now(), **wanted))
            events.append(
                PendingEvent(
                    ACTOR, "registry.version_created", target, {"stage": version.stage, "run_id": version.run_id}
                )
            )
            if version.stage != "None":
                changes.append(_stage_change(data.name, version, "", sync_run))
            continue
        before = {k: getattr(row, k) for k in wanted}
        diff = [k for k, v in wanted.items() if before[k] != v]
        if not diff:
            continue
        for key in diff:
            setattr(row, key, wanted[key])
        row.save(update_fields=diff)
        counts["versions_updated"] += 1
        if "stage" in diff:
            changes.append(_stage_change(data.name, version, before["stage"], sync_run))
            events.append(
                PendingEvent(ACTOR, "registry.stage_changed", target, {"from": before["stage"], "to": version.stage})
            )
        described = {
            k: {"from": before[k], "to": wanted[k]} for k in diff if k not in ("stage", "aliases", "updated_at")
        }
        if described:
            events.append(PendingEvent(ACTOR, "registry.version_updated", target, described))
    gone = [*replaced, *existing.values()]
    for row in gone:
        events.append(
            PendingEvent(
                ACTOR,
                "registry.version_deleted",
                version_target(data.name, row.version),
                {"stage": row.stage, "run_id": row.run_id, **({"reason": "number re-used"} if row in replaced else {})},
            )
        )
    if gone:
        # Before the new rows: a re-used number must not meet its predecessor in the unique index.
        ModelVersion.objects.filter(pk__in=[v.pk for v in gone]).delete()
        counts["versions_deleted"] += len(gone)
        versions_removed.send(
            sender=ModelVersion,
            model_name=data.name,
            versions=sorted(row.version for row in gone),
            reason="version number re-used in MLflow" if replaced else "deleted in MLflow",
        )
    ModelVersion.objects.bulk_create(new_rows, batch_size=1000)
    counts["versions_created"] += len(new_rows)
    StageChange.objects.bulk_create(changes)
    counts["stage_changes"] += len(changes)


def _model_target(name: str) -> Target:
    return Target(type="registered_model", id=name, model_name=name)


def version_target(name: str, version: int) -> Target:
    return Target(type="model_version", id=f"{name}/{version}", model_name=name, version=version)


def _stage_change(model_name: str, version: VersionData, from_stage: str, sync_run: SyncRun) -> StageChange:
    return StageChange(
        model_name=model_name,
        version=version.version,
        kind=StageChange.KIND_STAGE,
        from_value=from_stage,
        to_value=version.stage,
        mlflow_timestamp=version.updated_at,
        sync_run=sync_run,
    )


def _alias_changes(model_name: str, old: dict, new: dict, sync_run, events, changes) -> None:
    for alias in sorted(set(old) | set(new)):
        before, after = old.get(alias), new.get(alias)
        if before == after:
            continue
        # The alias left ``before`` and landed on ``after``: one row per version concerned.
        for number, from_value, to_value in ((before, alias, ""), (after, "", alias)):
            if number is None:
                continue
            changes.append(
                StageChange(
                    model_name=model_name,
                    version=number,
                    kind=StageChange.KIND_ALIAS,
                    alias=alias,
                    from_value=from_value,
                    to_value=to_value,
                    sync_run=sync_run,
                )
            )
        events.append(
            PendingEvent(
                ACTOR,
                "registry.alias_changed",
                Target(type="registered_model", id=model_name, model_name=model_name, version=after or before),
                {"alias": alias, "from_version": before, "to_version": after},
            )
        )


def _delete_model(model: RegisteredModel, counts: Counter, reason: str = "") -> None:
    versions = list(model.versions.values_list("version", "stage"))
    if model.created_at is None and not versions:
        model.delete()  # only the stale-marker row of a model that was never mirrored
        return
    data = {"versions": [{"version": v, "stage": s} for v, s in versions]}
    if reason:
        data["reason"] = reason
    record_many([PendingEvent(ACTOR, "registry.model_deleted", _model_target(model.name), data)])
    model.delete()
    if versions:
        versions_removed.send(
            sender=ModelVersion,
            model_name=model.name,
            versions=sorted(v for v, _ in versions),
            reason=reason or "model deleted in MLflow",
        )
    counts["models_deleted"] += 1
    counts["versions_deleted"] += len(versions)
