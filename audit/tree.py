"""The audit log's Merkle tree in the database, and its signed tree heads (RFC 6962 hashing, ``audit.merkle``).

Leaf ``i`` is ``SHA-256(0x00 || bytes.fromhex(event.hash))`` for the event ``seq = i + 1``, so the tree commits to the
hash chain in order. Stored: every perfect subtree from ``STORED_LEVEL`` up (a block of 16 events and above), about
one row per 8 events; the ones below that and the log's unfinished last block are computed from at most two blocks
of events. So a tree head, an inclusion proof and a consistency proof each read O(log n) nodes and at most 32
events, never the whole log, and growing the tree by ``k`` events writes about ``k / 8`` rows.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q

from . import merkle
from .models import AuditChainHead, AuditEvent, MerkleNode, TreeHead

log = logging.getLogger(__name__)

STORED_LEVEL = 4
BLOCK = 1 << STORED_LEVEL


class TreeError(RuntimeError):
    """The log cannot be read as a tree (a gap in ``seq``): ``verify_audit`` says where."""


def _leaves(first: int, end: int) -> list[bytes]:
    """Leaf hashes ``[first, end)``, read from the events ``seq`` ``first + 1 .. end``."""
    rows = list(AuditEvent.objects.filter(seq__gt=first, seq__lte=end).order_by("seq").values_list("seq", "hash"))
    if [seq for seq, _ in rows] != list(range(first + 1, end + 1)):
        raise TreeError(f"audit events {first + 1}..{end} are not all there in order")
    return [merkle.leaf_hash(bytes.fromhex(chain_hash)) for _, chain_hash in rows]


def _stored_blocks() -> int:
    top = MerkleNode.objects.filter(level=STORED_LEVEL).aggregate(top=Max("index"))["top"]
    return 0 if top is None else top + 1


def _fetch(keys) -> dict[tuple[int, int], bytes]:
    """The stored subtrees ``keys`` (those from ``STORED_LEVEL`` up) in one query: a row-value ``IN`` list, which
    PostgreSQL and SQLite both answer from the unique index (the ORM's OR of pairs costs more to build than to run)."""
    keys = sorted({key for key in keys if key[0] >= STORED_LEVEL})
    if not keys:
        return {}
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {quote('level')}, {quote('index')}, {quote('hash')} FROM {quote(MerkleNode._meta.db_table)} "
        f"WHERE ({quote('level')}, {quote('index')}) IN (VALUES {', '.join(['(%s, %s)'] * len(keys))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [part for key in keys for part in key])
        return {(level, index): bytes(value) for level, index, value in cursor.fetchall()}


def extend() -> int:
    """Store the perfect subtrees of every complete block of events not yet in the tree; returns the events covered.

    Safe to run concurrently (the rows are a function of the events; a duplicate insert is ignored).
    """
    total = AuditChainHead.objects.values_list("seq", flat=True).first() or 0
    done, target = _stored_blocks(), total // BLOCK
    if target <= done:
        return done * BLOCK
    known = _fetch(merkle.frontier(done * BLOCK))  # _fetch keeps the stored levels
    step = 4096  # blocks per read: 65,536 events
    for first_block in range(done, target, step):
        last_block = min(first_block + step, target)
        leaves = _leaves(first_block * BLOCK, last_block * BLOCK)
        rows = []
        for block in range(first_block, last_block):
            chunk = leaves[(block - first_block) * BLOCK : (block - first_block + 1) * BLOCK]
            level, index, value = STORED_LEVEL, block, _perfect_root(chunk)
            while True:
                known[(level, index)] = value
                rows.append(MerkleNode(level=level, index=index, hash=value))
                if not index & 1:
                    break
                value = merkle.node_hash(known[(level, index - 1)], value)
                level, index = level + 1, index >> 1
        with transaction.atomic():
            MerkleNode.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
    return target * BLOCK


def _perfect_root(leaves: list[bytes]) -> bytes:
    while len(leaves) > 1:
        leaves = [merkle.node_hash(leaves[i], leaves[i + 1]) for i in range(0, len(leaves), 2)]
    return leaves[0]


def _block_leaves(blocks: set[int], size: int) -> dict[int, bytes]:
    """The leaves of the blocks ``blocks`` (the last one cut at ``size``), read in one query."""
    if not blocks:
        return {}
    ranges = Q()
    for block in blocks:
        ranges |= Q(seq__gt=block * BLOCK, seq__lte=min((block + 1) * BLOCK, size))
    rows = dict(AuditEvent.objects.filter(ranges).values_list("seq", "hash"))
    wanted = [seq for block in sorted(blocks) for seq in range(block * BLOCK + 1, min((block + 1) * BLOCK, size) + 1)]
    missing = [seq for seq in wanted if seq not in rows]
    if missing:
        raise TreeError(f"audit event {missing[0]} is not there: the log has a gap")
    return {seq - 1: merkle.leaf_hash(bytes.fromhex(rows[seq])) for seq in wanted}


class _Lookup:
    """``node(level, index)`` for the proofs: stored subtrees, and the small ones computed from their events
    (two queries, however many proofs the keys are for)."""

    def __init__(self, keys: set[tuple[int, int]], size: int):
        self.stored = _fetch(keys)
        missing = [key for key in keys if key[0] >= STORED_LEVEL and key not in self.stored]
        if missing:
            raise TreeError(f"the tree is not stored up to node {min(missing)}: run audit.tree.extend() first")
        self.leaves = _block_leaves({(index << level) // BLOCK for level, index in keys if level < STORED_LEVEL}, size)

    def __call__(self, level: int, index: int) -> bytes:
        if level >= STORED_LEVEL:
            return self.stored[(level, index)]
        start = index << level
        return _perfect_root([self.leaves[i] for i in range(start, start + (1 << level))])


def root(size: int) -> bytes:
    return merkle.root(size, _Lookup(merkle.nodes_for_root(size), size))


def inclusion_proof(seq: int, size: int) -> list[bytes]:
    """The audit path of event ``seq`` in the tree of the first ``size`` events."""
    index = seq - 1
    return merkle.inclusion_proof(index, size, _Lookup(merkle.nodes_for_inclusion(index, size), size))


def inclusion_proofs(seqs, size: int) -> dict[int, list[bytes]]:
    """The audit paths of the events ``seqs`` in the tree of the first ``size`` events, read in two queries (an
    evidence pack proves a hundred events at once)."""
    keys: set[tuple[int, int]] = set()
    for seq in seqs:
        keys |= merkle.nodes_for_inclusion(seq - 1, size)
    lookup = _Lookup(keys, size)
    return {seq: merkle.inclusion_proof(seq - 1, size, lookup) for seq in seqs}


def consistency_proof(first: int, second: int) -> list[bytes]:
    return merkle.consistency_proof(first, second, _Lookup(merkle.nodes_for_consistency(first, second), second))


# --- signed tree heads --------------------------------------------------------------------------------------------


def _private_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    configured = settings.AUDIT_SIGNING_KEY
    if configured:
        if configured.lstrip().startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(configured.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise TreeError("AUDIT_SIGNING_KEY must be an Ed25519 private key")
            return key
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(configured))
    path = Path(settings.AUDIT_SIGNING_KEY_FILE)
    if not path.exists():
        if not settings.DEBUG:
            log.warning("AUDIT_SIGNING_KEY is not set: generating a signing key in %s; set it in production", path)
        path.parent.mkdir(parents=True, exist_ok=True)
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(seed).decode() + "\n")
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(path.read_text().strip()))


def public_key_bytes() -> bytes:
    return _private_key().public_key().public_bytes_raw()


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class PublishedHead:
    head: TreeHead
    created: bool


def publish_tree_head(*, force: bool = False) -> PublishedHead:
    """Grow the tree to the whole log and sign a head over it; with no new events since the last head, keep that one
    unless ``force`` (a fresh timestamp over the same tree)."""
    extend()
    size = AuditChainHead.objects.values_list("seq", flat=True).first() or 0
    latest = TreeHead.objects.order_by("-size", "-timestamp").first()
    if latest is not None and latest.size == size and not force:
        return PublishedHead(latest, False)
    root_hex = root(size).hex()
    timestamp = int(time.time() * 1000)
    key = _private_key()
    signature = key.sign(merkle.head_message(size, root_hex, timestamp))
    head = TreeHead.objects.create(
        size=size,
        root=root_hex,
        timestamp=timestamp,
        signature=base64.b64encode(signature).decode(),
        key_id=key_id(key.public_key().public_bytes_raw()),
    )
    return PublishedHead(head, True)


def head_json(head: TreeHead) -> dict:
    return {
        "size": head.size,
        "root": head.root,
        "timestamp": head.timestamp,
        "signature": head.signature,
        "key_id": head.key_id,
    }
