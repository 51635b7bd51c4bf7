"""The pack's audit section: every event about a version, each with its inclusion proof in a signed tree head.

What ``verify_evidence.py`` checks offline, so every field the event's hash covers is here as it was hashed
(``audit.services.event_payload``), with ``prev_hash`` and ``hash``; proofs are hex, leaf first (RFC 9162).
"""

from __future__ import annotations

import base64

from audit import tree
from audit.models import AuditEvent, TreeHead
from audit.services import event_payload


def _head_covering(last_seq: int, public_key: bytes) -> tuple[TreeHead, bool]:
    """The latest signed head if it covers ``last_seq`` and was signed with today's key; else a new one."""
    latest = TreeHead.objects.order_by("-size", "-timestamp").first()
    if latest is not None and latest.size >= last_seq and latest.key_id == tree.key_id(public_key):
        return latest, False
    return tree.publish_tree_head(force=True).head, True


def public_key_json(public_key: bytes) -> dict:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    pem = Ed25519PublicKey.from_public_bytes(public_key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "algorithm": "Ed25519",
        "ed25519": base64.b64encode(public_key).decode(),
        "pem": pem.decode(),
        "key_id": tree.key_id(public_key),
    }


def audit_section(model_name: str, version: int) -> dict:
    """The events of ``model_name`` v``version`` in ``seq`` order with their proofs, the head, the key.

    A fixed number of queries whatever the number of events: the events, the latest head (or publishing one),
    then every proof from one read of the stored subtrees and one of the events' leaves (``tree.inclusion_proofs``).
    """
    events = list(AuditEvent.objects.filter(model_name=model_name, version=version).order_by("seq"))
    public_key = tree.public_key_bytes()
    head, published = _head_covering(events[-1].seq if events else 0, public_key)
    proofs = tree.inclusion_proofs([event.seq for event in events], head.size)
    return {
        "event_count": len(events),
        "events": [
            {
                **event_payload(event),
                "prev_hash": event.prev_hash,
                "hash": event.hash,
                "proof": [node.hex() for node in proofs[event.seq]],
            }
            for event in events
        ],
        "tree_head": {**tree.head_json(head), "published_for_this_pack": published},
        "public_key": public_key_json(public_key),
    }
