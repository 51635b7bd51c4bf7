from django.db import models


class AuditError(Exception):
    pass


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditError("audit events are append-only")

    def delete(self):
        raise AuditError("audit events are append-only")


class AuditEvent(models.Model):
    """One entry of the hash chain: ``hash = sha256(prev_hash + canonical JSON of the event)``."""

    seq = models.BigIntegerField(unique=True)
    created_at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=150, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=300)
    model_name = models.CharField(max_length=256, blank=True, db_index=True)
    version = models.IntegerField(null=True, blank=True)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["model_name", "version", "seq"])]

    def __str__(self):
        return f"#{self.seq} {self.actor} {self.action} {self.target_type}:{self.target_id}"

    def save(self, *args, **kwargs):
        raise AuditError("audit events are append-only and only appended by audit.services.record")

    def delete(self, *args, **kwargs):
        raise AuditError("audit events are append-only")


class AuditChainHeadQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditError("the chain head only moves through audit.services.record_many")

    def delete(self):
        raise AuditError("the chain head only moves through audit.services.record_many")

    def advance(self, *, seq: int, hash: str) -> int:
        """The append path's one write; on PostgreSQL a trigger also insists the head lands on the newest event."""
        return super().update(seq=seq, hash=hash)


class AuditChainHead(models.Model):
    """A single row locked by every append, so concurrent writers never fork the chain."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    objects = AuditChainHeadQuerySet.as_manager()

    def __str__(self):
        return f"head #{self.seq}"

    def save(self, *args, **kwargs):
        raise AuditError("the chain head only moves through audit.services.record_many")

    def delete(self, *args, **kwargs):
        raise AuditError("the chain head only moves through audit.services.record_many")


class MerkleNode(models.Model):
    """A perfect subtree of the audit log's Merkle tree (``audit.tree``): the root of ``2**level`` events' leaves
    from ``index * 2**level`` (leaf ``i`` is the event ``seq = i + 1``). Only levels from ``audit.tree.STORED_LEVEL``
    up are stored; the few below are computed from the events when a proof needs them."""

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="audit_merkle_node_unique")]

    def __str__(self):
        return f"node {self.level}/{self.index}"


class TreeHead(models.Model):
    """A signed tree head: the Merkle root over the first ``size`` events, signed (Ed25519) at ``timestamp``."""

    size = models.BigIntegerField()
    root = models.CharField(max_length=64)
    timestamp = models.BigIntegerField(help_text="milliseconds since the epoch, as signed")
    signature = models.CharField(max_length=128)
    key_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-size", "-timestamp"]
        indexes = [models.Index(fields=["size"])]

    def __str__(self):
        return f"tree head of {self.size} events"
