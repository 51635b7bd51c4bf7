"""Renames: a model that vanished under one name and appeared under another with the same creation time and
versions was renamed; its row moves with everything linked to it."""

from __future__ import annotations

from collections import Counter, defaultdict

from audit.services import PendingEvent, record_many

from ..models import ModelRename, ModelVersion, RegisteredModel, StageChange, SyncRun
from ..signals import model_renamed
from .common import ACTOR
from .model import _model_target
from .read import Snapshot


def _fingerprint(created_at, versions) -> tuple:
    """What a rename keeps (MLflow keeps the model's creation time and each version's run, source and
    creation time) and a different model would not share."""
    return (created_at, frozenset((v.version, v.run_id or "", v.source, v.created_at) for v in versions))


def _renames(snapshot: Snapshot, mirrored: dict[str, RegisteredModel]) -> dict[str, RegisteredModel]:
    """new name -> the mirrored model (under its old name) it was renamed from, for unambiguous matches only."""
    vanished = [mirrored[name] for name in snapshot.gone if name in mirrored]
    appeared = [m for m in snapshot.models if m.name not in mirrored]
    if not vanished or not appeared:
        return {}
    old_prints = defaultdict(list)
    rows = defaultdict(list)
    for row in ModelVersion.objects.filter(model__in=vanished):
        rows[row.model_id].append(row)
    for model in vanished:
        if model.created_at is not None:
            old_prints[_fingerprint(model.created_at, rows[model.pk])].append(model)
    new_prints = defaultdict(list)
    for data in appeared:
        new_prints[_fingerprint(data.created_at, snapshot.versions.get(data.name, []))].append(data)
    matches = {}
    for key, olds in old_prints.items():
        news = new_prints.get(key, [])
        if len(olds) == 1 and len(news) == 1:
            matches[news[0].name] = olds[0]
    return matches


def _rename(model: RegisteredModel, new_name: str, sync_run: SyncRun, counts: Counter) -> RegisteredModel:
    old_name = model.name
    model.name = new_name
    model.save(update_fields=["name"])
    StageChange.objects.filter(model_name=old_name).update(model_name=new_name)
    ModelRename.objects.create(model=model, old_name=old_name, new_name=new_name, sync_run=sync_run)
    record_many(
        [PendingEvent(ACTOR, "registry.model_renamed", _model_target(new_name), {"from": old_name, "to": new_name})]
    )
    # Cards and approvals keep the model's name beside their link to it: they follow (registry imports neither).
    model_renamed.send(sender=RegisteredModel, model=model, old_name=old_name, new_name=new_name)
    counts["models_renamed"] += 1
    return model
