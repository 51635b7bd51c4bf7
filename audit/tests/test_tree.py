"""The audit log's stored Merkle tree and signed tree heads, checked against the RFC 6962 reference in
test_merkle (which builds every hash from the events themselves)."""

import base64
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit import merkle, tree
from audit.models import AuditEvent, MerkleNode, TreeHead

from .conftest import append
from .test_merkle import mth, path, subproof

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def signing_key(settings):
    key = Ed25519PrivateKey.generate()
    settings.AUDIT_SIGNING_KEY = base64.b64encode(key.private_bytes_raw()).decode()
    return key


def data():
    return [bytes.fromhex(h) for h in AuditEvent.objects.order_by("seq").values_list("hash", flat=True)]


@pytest.mark.parametrize("size", [1, 2, 15, 16, 17, 31, 33, 100, 257])
def test_roots_and_proofs_match_the_reference(size):
    append(size)
    assert tree.extend() == size // tree.BLOCK * tree.BLOCK
    d = data()
    assert tree.root(size) == mth(d)
    rng = random.Random(size)
    for seq in {1, size, *rng.sample(range(1, size + 1), min(size, 12))}:
        proof = tree.inclusion_proof(seq, size)
        assert proof == path(seq - 1, d)
        merkle.verify_inclusion(merkle.leaf_hash(d[seq - 1]), seq - 1, size, proof, mth(d))
    for first in {1, size // 2 or 1, size - 1 or 1}:
        proof = tree.consistency_proof(first, size)
        assert proof == (subproof(first, d, True) if first < size else [])
        merkle.verify_consistency(first, size, mth(d[:first]), mth(d), proof)


def test_growing_in_steps_stores_what_one_pass_would():
    append(40)
    tree.extend()
    append(90, model="fraud")
    tree.extend()
    stepwise = set(MerkleNode.objects.values_list("level", "index", "hash"))
    MerkleNode.objects.all().delete()
    tree.extend()
    assert {(lv, i, bytes(h)) for lv, i, h in stepwise} == {
        (lv, i, bytes(h)) for lv, i, h in MerkleNode.objects.values_list("level", "index", "hash")
    }
    assert MerkleNode.objects.filter(level=tree.STORED_LEVEL).count() == 130 // tree.BLOCK
    # One row per stored subtree: about one per eight events.
    assert MerkleNode.objects.count() < 130 / 4


def test_a_proof_reads_a_few_rows_not_the_log():
    append(600)
    tree.extend()
    with CaptureQueriesContext(connection) as queries:
        tree.inclusion_proof(123, 600)
    # The stored nodes in one query, the leaf's block and the unfinished last block in one each.
    assert len(queries) <= 3


def test_a_signed_head_verifies_with_the_public_key_and_is_not_repeated(signing_key):
    append(21)
    published = tree.publish_tree_head()
    assert published.created
    head = published.head
    assert (head.size, head.root) == (21, mth(data()).hex())
    public = Ed25519PublicKey.from_public_bytes(tree.public_key_bytes())
    public.verify(base64.b64decode(head.signature), merkle.head_message(head.size, head.root, head.timestamp))
    assert head.key_id == tree.key_id(signing_key.public_key().public_bytes_raw())
    assert tree.publish_tree_head().created is False
    assert tree.publish_tree_head(force=True).created is True
    append(5)
    newer = tree.publish_tree_head().head
    assert newer.size == 26
    merkle.verify_consistency(
        21, 26, bytes.fromhex(head.root), bytes.fromhex(newer.root), tree.consistency_proof(21, 26)
    )
    assert TreeHead.objects.count() == 3


def test_a_gap_in_the_log_is_a_clear_error():
    from .test_tampering import tamper

    append(40)
    tamper("DELETE FROM audit_auditevent WHERE seq = 20")
    with pytest.raises(tree.TreeError, match="not all there"):
        tree.extend()


def test_without_a_configured_key_one_is_generated_once(settings, tmp_path):
    settings.AUDIT_SIGNING_KEY = ""
    settings.AUDIT_SIGNING_KEY_FILE = tmp_path / "key"
    first = tree.public_key_bytes()
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600
    assert tree.public_key_bytes() == first


def test_the_beat_task_publishes(settings):
    from audit.tasks import publish_tree_head

    append(3)
    assert publish_tree_head.delay().get()["size"] == 3
    assert "publish-audit-tree-head" in settings.CELERY_BEAT_SCHEDULE
