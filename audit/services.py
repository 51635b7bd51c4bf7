"""Append-only, hash-chained audit trail.

``record()`` must be called inside the transaction of the change it records, so the
change and its event commit or roll back together.
"""

import hashlib
import json
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from .models import AuditChainHead, AuditEvent

GENESIS_HASH = "0" * 64

SYSTEM_ACTORS = ("system:sync", "system:worker", "system:mlflow-webhook")

# The one documented list of actions (docs/audit.md).
ACTIONS = {
    "registry.model_created": "a registered model appeared in MLflow",
    "registry.model_updated": "a model's description, tags or owner changed in MLflow",
    "registry.model_deleted": "a registered model was deleted in MLflow",
    "registry.version_created": "a model version appeared in MLflow",
    "registry.version_updated": "a version's description, tags, status or run changed in MLflow",
    "registry.version_deleted": "a model version was deleted in MLflow",
    "registry.stage_changed": "sync saw a version's stage change",
    "registry.alias_changed": "sync saw an alias move, appear or disappear",
    "registry.unapproved_transition": "a stage/alias change with no applied portal request",
    "card.revised": "a model card revision was saved",
    "card.published": "a card revision was published to MLflow",
    "request.created": "a transition request was filed",
    "request.withdrawn": "the requester withdrew a request",
    "request.superseded": "a request was superseded",
    "request.approved": "a request reached quorum with passing checks",
    "request.applied": "the approved transition was applied in MLflow",
    "request.failed": "applying the transition failed after retries",
    "request.retried": "an admin retried a failed request",
    "review.approved": "a reviewer approved",
    "review.rejected": "a reviewer rejected",
    "review.commented": "a comment was added to a request",
    "checks.completed": "a governance check run finished",
    "policy.changed": "a governance policy was created, changed or deleted",
    "auth.login": "a user signed in",
    "auth.login_failed": "a sign-in failed",
}


class UnknownAction(ValueError):
    pass


def actor_name(actor) -> str:
    if isinstance(actor, str):
        if not actor.startswith("system:"):
            raise ValueError(f"a named actor must be one of {SYSTEM_ACTORS}, got {actor!r}")
        return actor
    return actor.get_username()


def canonical_json(payload: dict) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_payload(event: AuditEvent) -> dict:
    return {
        "seq": event.seq,
        "created_at": event.created_at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "model_name": event.model_name,
        "version": event.version,
        "data": event.data,
    }


def compute_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256((prev_hash + canonical_json(event_payload(event))).encode()).hexdigest()


@dataclass(frozen=True)
class Target:
    type: str
    id: str
    model_name: str = ""
    version: int | None = None


def record(*, actor, action: str, target: Target, data: dict | None = None) -> AuditEvent:
    """Append one event to the chain; call it inside the transaction of the change it records."""
    return record_many([PendingEvent(actor=actor, action=action, target=target, data=data or {})])[0]


@dataclass(frozen=True)
class PendingEvent:
    actor: object
    action: str
    target: Target
    data: dict


def record_many(events: list[PendingEvent]) -> list[AuditEvent]:
    """Append several events under one lock: what a sync that saw many changes needs."""
    if not events:
        return []
    for pending in events:
        if pending.action not in ACTIONS:
            raise UnknownAction(f"unknown audit action {pending.action!r}")
    with transaction.atomic():
        AuditChainHead.objects.bulk_create([AuditChainHead(pk=1)], ignore_conflicts=True)
        head = AuditChainHead.objects.select_for_update().get(pk=1)
        seq, prev_hash, now = head.seq, head.hash, timezone.now()
        rows = []
        for pending in events:
            seq += 1
            event = AuditEvent(
                seq=seq,
                created_at=now,
                actor=actor_name(pending.actor),
                action=pending.action,
                target_type=pending.target.type,
                target_id=str(pending.target.id),
                model_name=pending.target.model_name,
                version=pending.target.version,
                data=json.loads(canonical_json(pending.data or {})),
                prev_hash=prev_hash,
            )
            event.hash = prev_hash = compute_hash(prev_hash, event)
            rows.append(event)
        AuditEvent.objects.bulk_create(rows, batch_size=1000)
        AuditChainHead.objects.filter(pk=1).update(seq=seq, hash=prev_hash)
    return rows
