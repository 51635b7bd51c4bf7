"""Tree heads and proofs through API v1 and the commands; each answer verified from its parts as an auditor would."""

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.management import call_command

from audit import merkle, tree
from audit.models import AuditEvent

from .conftest import append

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def signing_key(settings):
    settings.AUDIT_SIGNING_KEY = base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode()


def test_an_auditor_checks_an_event_against_a_signed_head_through_the_api(api):
    append(50)
    assert api("lead", "get", "/audit/tree-heads").json()["items"] == []
    assert api("lead", "get", "/audit/events/3/proof").status_code == 400  # no head yet
    tree.publish_tree_head()
    head = api("lead", "get", "/audit/tree-heads").json()["items"][0]
    key = api("lead", "get", "/audit/tree-heads/public-key").json()
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    public.verify(
        base64.b64decode(head["signature"]), merkle.head_message(head["size"], head["root"], head["timestamp"])
    )
    assert key["key_id"] == head["key_id"]

    answer = api("lead", "get", "/audit/events/17/proof").json()
    event = AuditEvent.objects.get(seq=17)
    leaf = merkle.leaf_hash(bytes.fromhex(event.hash))
    assert answer["leaf_hash"] == leaf.hex() and answer["tree_size"] == head["size"]
    merkle.verify_inclusion(
        leaf,
        answer["leaf_index"],
        answer["tree_size"],
        [bytes.fromhex(p) for p in answer["proof"]],
        bytes.fromhex(head["root"]),
    )

    append(30, model="fraud")
    tree.publish_tree_head()
    newer = api("lead", "get", "/audit/tree-heads").json()["items"][0]
    answer = api("lead", "get", "/audit/tree-heads/consistency", first=head["size"], second=newer["size"]).json()
    merkle.verify_consistency(
        head["size"],
        newer["size"],
        bytes.fromhex(head["root"]),
        bytes.fromhex(newer["root"]),
        [bytes.fromhex(p) for p in answer["proof"]],
    )


def test_bad_proof_requests_are_clear_4xx(api):
    append(10)
    api("lead", "get", "/audit/tree-heads")  # the token's own audit event comes before the head
    size = tree.publish_tree_head().head.size
    assert api("lead", "get", "/audit/events/999/proof").status_code == 404
    too_big = api("lead", "get", "/audit/events/2/proof", size=size + 1)
    assert too_big.status_code == 400 and "covers" in json.dumps(too_big.json())
    assert api("lead", "get", "/audit/events/9/proof", size=5).status_code == 400
    assert api("lead", "get", "/audit/tree-heads/consistency", first=5, second=3).status_code == 400
    assert api("lead", "get", "/audit/events/abc/proof").status_code in (400, 404, 422)


def test_only_who_may_read_the_whole_log(api):
    append(3)
    for persona in ("owner", "reviewer_a", "outsider"):
        assert api(persona, "get", "/audit/tree-heads").status_code == 403
    assert api("anonymous", "get", "/audit/tree-heads").status_code == 401


def test_the_commands_publish_and_export_the_head(tmp_path, capsys):
    append(12)
    call_command("audit_tree_head")
    printed = json.loads(capsys.readouterr().out)
    assert printed["size"] == 12 and printed["new"] is True
    out = tmp_path / "head.json"
    call_command("verify_audit", export_head=str(out))
    exported = json.loads(out.read_text())
    signed = exported["tree_head"]
    assert (signed["size"], signed["root"]) == (12, printed["root"])
    Ed25519PublicKey.from_public_bytes(base64.b64decode(signed["public_key"])).verify(
        base64.b64decode(signed["signature"]), merkle.head_message(12, signed["root"], signed["timestamp"])
    )
