"""Append-only, hash-chained audit trail.

``record()`` must be called inside the transaction of the change it records, so the
change and its event commit or roll back together.
"""

import hashlib
import json
import math
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Max, Subquery
from django.utils import timezone
from psycopg.types.datetime import TimestamptzLoader
from psycopg.types.string import TextLoader

from registry_portal import roles

from .models import AuditChainHead, AuditEvent

GENESIS_HASH = "0" * 64

SYSTEM_ACTORS = roles.SYSTEM_ACTORS
ANONYMOUS_PREFIX = "anonymous:"
ACTOR_MAX_LENGTH = AuditEvent._meta.get_field("actor").max_length

# The one documented list of actions (docs/audit.md).
ACTIONS = {
    "registry.model_created": "a registered model appeared in MLflow",
    "registry.model_updated": "a model's description, tags or owner tag changed in MLflow",
    "registry.model_deleted": "a registered model was deleted in MLflow",
    "registry.model_renamed": "a registered model was renamed in MLflow; its history follows it",
    "registry.version_created": "a model version appeared in MLflow",
    "registry.version_updated": "a version's description, tags, status or run changed in MLflow",
    "registry.version_deleted": "a model version was deleted in MLflow",
    "registry.stage_changed": "sync saw a version's stage change",
    "registry.alias_changed": "sync saw an alias move, appear or disappear",
    "registry.unapproved_transition": "a stage/alias change with no applied portal request",
    "registry.unapproved_reverted": "an unapproved Production stage/alias change put back (out_of_band: revert)",
    "registry.revert_skipped": "an unapproved Production change left as is: not safe to revert",
    "registry.revert_lease_expired": "a revert claim ran out (worker or broker lost); the revert was queued again",
    "registry.revert_failed": "reverting an unapproved Production change failed in MLflow",
    "registry.unapproved_acknowledged": "an admin acknowledged an unapproved transition",
    "registry.owner_added": "an admin made a user or group an owner of a model in the portal",
    "registry.owner_removed": "an admin removed a user or group from a model's owners in the portal",
    "registry.owner_tag_changed": "sync saw MLflow's owner tag change (flagged on the model; it grants nothing)",
    "registry.owner_tag_dismissed": "an admin dismissed a flagged owner-tag change, keeping the portal's owners",
    "card.revised": "a model card revision was saved",
    "card.published": "a card revision was published to MLflow",
    "card.profile_changed": "an owner changed the regulation profile a model card follows (saved as a new revision)",
    "request.created": "a transition request was filed",
    "request.withdrawn": "the requester withdrew a request",
    "request.superseded": "a request was superseded",
    "request.approved": "a request reached quorum with passing checks",
    "request.apply_started": "a worker claimed an approved request and started applying it",
    "request.lease_expired": "an apply claim ran out (worker or broker lost); the request was queued again",
    "request.applied": "the approved transition was applied in MLflow",
    "request.failed": "applying the transition failed after retries",
    "request.retried": "an admin retried a failed request",
    "review.approved": "a reviewer approved",
    "review.rejected": "a reviewer rejected",
    "review.commented": "a comment was added to a request",
    "checks.completed": "a governance check run finished",
    "waiver.requested": "an owner asked for a time-limited waiver of one failing rule",
    "waiver.approved": "a waiver reached the Production quorum and is active",
    "waiver.rejected": "a reviewer rejected a waiver",
    "waiver.withdrawn": "a waiver was withdrawn",
    "waiver.expired": "an active waiver passed its expiry: the rule fails again",
    "attestation.given": "a reviewer attested a waiver or re-certification",
    "recertification.opened": "a Production version's re-certification fell due and was opened",
    "recertification.reminder": "a Production version's re-certification falls due soon",
    "recertification.overdue": "a re-certification passed its due date uncertified",
    "recertification.certified": "reviewers certified a Production version still fit for purpose",
    "recertification.rejected": "a reviewer rejected a re-certification (the version is flagged)",
    "recertification.superseded": "an open re-certification closed because its version left Production",
    "finding.opened": "a reviewer or ML lead opened a finding on a version",
    "finding.remediated": "a finding's owner recorded its remediation",
    "finding.closed": "a reviewer or lead other than its owner closed a finding",
    "finding.accepted": "a reviewer or lead other than its owner accepted a finding's risk",
    "finding.reopened": "a remediated finding was reopened",
    "finding.carried_over": "the model's owner carried a finding over to a newer version",
    "policy.changed": "a governance policy was created, changed or deleted",
    "model.risk_tier_set": "a model's risk tier was set by an ML lead or admin, or derived from its card",
    "auth.login": "a user signed in",
    "auth.login_failed": "a sign-in failed: the first failure of a claimed username from one address in a window",
    "auth.locked_out": "too many failed sign-ins: a claimed username is locked out from one address",
    "auth.login_failures": "a window of failed sign-ins of a claimed username from one address closed: the count",
    "role.granted": "a user was added to a portal group (reviewers, ml-leads, owners) or made an admin",
    "role.revoked": "a user was removed from a portal group or is no longer an admin",
    "token.created": "a personal API token was created (only its hash is kept)",
    "token.revoked": "a personal API token was revoked",
    "notification.retried": "an admin sent a failed or dead notification delivery again",
}


class UnknownAction(ValueError):
    pass


def actor_name(actor) -> str:
    if isinstance(actor, str):
        if actor.startswith(("system:", ANONYMOUS_PREFIX)):
            return actor[:ACTOR_MAX_LENGTH]
        raise ValueError(
            f"a named actor must be one of {SYSTEM_ACTORS} or start with {ANONYMOUS_PREFIX!r}, got {actor!r}"
        )
    return actor.get_username()


def anonymous_actor(claimed_username: str) -> str:
    """The actor of an unauthenticated attempt: the name it claimed, never mistaken for that user."""
    printable = "".join(ch for ch in str(claimed_username) if ch.isprintable())
    return (ANONYMOUS_PREFIX + printable)[:ACTOR_MAX_LENGTH]


# One encoder, built once: verification encodes every event and json.dumps would rebuild it each call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_json(payload: dict) -> str:
    return _CANONICAL.encode(payload)


HASHED_FIELDS = ("seq", "created_at", "actor", "action", "target_type", "target_id", "model_name", "version", "data")


def _payload(seq, created_at, actor, action, target_type, target_id, model_name, version, data) -> dict:
    return {
        "seq": seq,
        "created_at": created_at.isoformat(),
        "actor": actor,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "model_name": model_name,
        "version": version,
        "data": data,
    }


def event_payload(event: AuditEvent) -> dict:
    return _payload(*(getattr(event, name) for name in HASHED_FIELDS))


def compute_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256((prev_hash + canonical_json(event_payload(event))).encode()).hexdigest()


def storable(value):
    """``value`` as the database will hand it back, so the hash computed now still matches on re-reading.

    PostgreSQL's jsonb has no NaN, Infinity or negative zero, prints floats of 1e16 and more as
    integers (which then read back as ``int``), and rejects NUL characters.
    """
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return 0.0
        if abs(value) >= 1e16:
            return int(Decimal(repr(value)))
        return value
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


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
                data=storable(json.loads(canonical_json(pending.data or {}))),
                prev_hash=prev_hash,
            )
            event.hash = prev_hash = compute_hash(prev_hash, event)
            rows.append(event)
        AuditEvent.objects.bulk_create(rows, batch_size=1000)
        AuditChainHead.objects.filter(pk=1).advance(seq=seq, hash=prev_hash)
    return rows


@dataclass(frozen=True)
class ChainReport:
    """What ``verify_chain`` found: the verified head, or the first ``seq`` that does not hold."""

    count: int
    head_seq: int
    head_hash: str
    head_time: datetime | None = None
    broken_seq: int | None = None
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_seq is None


def verify_chain(*, chunk_size: int = 10_000) -> ChainReport:
    """Walk the chain in ``seq`` order, recomputing every hash; stop at the first event that does not hold.

    The head and the newest ``seq`` are read in one statement, so appends made while the walk runs
    are neither verified nor mistaken for tampering.
    """
    head_seq, head_hash, last_seq = _head_and_last_seq()
    beyond_head = None
    if head_seq is None:
        head_seq = 0
        if last_seq:
            beyond_head = _broken(0, GENESIS_HASH, 1, f"the chain head row is missing, yet events reach #{last_seq}")
    elif last_seq > head_seq:
        beyond_head = _broken(
            head_seq,
            head_hash,
            head_seq + 1,
            f"events after the chain head #{head_seq}: inserted outside the append path",
        )
    with _chain_rows(head_seq, chunk_size) as (rows, decode_data):
        walked = _walk(rows, decode_data, head_seq, head_hash)
    return beyond_head if walked.intact and beyond_head else walked


def _walk(rows, decode_data, head_seq: int, head_hash: str) -> ChainReport:
    sha256, encode = hashlib.sha256, _CANONICAL.encode
    expected, prev_hash, created_at = 1, GENESIS_HASH, None
    for *fields, data, stored_prev, stored_hash in rows:
        seq = fields[0]
        reason = ""
        if seq != expected:
            return _broken(expected - 1, prev_hash, expected, f"event #{expected} is missing (the next one is #{seq})")
        if stored_prev != prev_hash:
            reason = f"its prev_hash is not the hash of #{seq - 1}: an event was removed, inserted or moved here"
        elif sha256((prev_hash + encode(_payload(*fields, decode_data(data)))).encode()).hexdigest() != stored_hash:
            reason = "its content does not match its hash: edited, forged or moved"
        if reason:
            return _broken(seq - 1, prev_hash, seq, reason)
        prev_hash, created_at = stored_hash, fields[1]
        expected += 1
    count = expected - 1
    if count < head_seq:
        return _broken(count, prev_hash, count + 1, f"the chain head is #{head_seq} but the chain ends at #{count}")
    if prev_hash != head_hash:
        return _broken(count, prev_hash, count, f"the chain head's hash is not the hash of #{count}")
    return ChainReport(count=count, head_seq=head_seq, head_hash=head_hash, head_time=created_at)


@contextmanager
def _chain_rows(head_seq: int, chunk_size: int):
    """The events up to the head in ``seq`` order (hashed fields, prev_hash, hash), and how to decode ``data``."""
    columns = (*HASHED_FIELDS, "prev_hash", "hash")
    if connection.vendor != "postgresql":
        queryset = AuditEvent.objects.filter(seq__lte=head_seq).order_by("seq").values_list(*columns)
        yield queryset.iterator(chunk_size=chunk_size), _as_is
        return
    # psycopg's C loaders (timestamps; jsonb as text, decoded by json.loads) instead of Django's Python ones:
    # verification runs about twice as fast.
    sql = f"SELECT {', '.join(columns)} FROM {AuditEvent._meta.db_table} WHERE seq <= %s ORDER BY seq"
    with transaction.atomic():
        with connection.cursor() as setup:
            # created_at is hashed as UTC isoformat, whatever the connection's time zone.
            setup.execute("SET LOCAL TimeZone = 'UTC'")
        with connection.connection.cursor(name="audit_verify_chain") as cursor:
            cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
            cursor.adapters.register_loader("jsonb", TextLoader)
            cursor.itersize = chunk_size
            cursor.execute(sql, [head_seq])
            yield cursor, json.loads


def _as_is(value):
    return value


def _head_and_last_seq() -> tuple[int | None, str, int]:
    """The head (``None`` when its row is missing) and the newest event's ``seq``, in one statement."""
    newest = AuditEvent.objects.order_by("-seq").values("seq")[:1]
    row = AuditChainHead.objects.filter(pk=1).annotate(last_seq=Subquery(newest)).values_list("seq", "hash", "last_seq")
    head = row.first()
    if head is None:
        return None, GENESIS_HASH, AuditEvent.objects.aggregate(last=Max("seq"))["last"] or 0
    return head[0], head[1], head[2] or 0


def _broken(good_count: int, good_hash: str, broken_seq: int, reason: str) -> ChainReport:
    return ChainReport(count=good_count, head_seq=good_count, head_hash=good_hash, broken_seq=broken_seq, reason=reason)


def head_in_chain(*, seq: int, hash: str) -> bool:
    """Whether an anchor exported earlier (``verify_audit --export-head``) is still part of the chain."""
    if seq == 0:
        return hash == GENESIS_HASH
    return AuditEvent.objects.filter(seq=seq, hash=hash).exists()
