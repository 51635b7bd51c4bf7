#!/usr/bin/env python3
"""Verify a Registry Portal evidence pack offline: ``python3 verify_evidence.py evidence.zip`` (or ``pack.json``).

Needs Python 3.10+ and the ``cryptography`` package, nothing else: no Django, no database, no network. It checks

1. the tree head's Ed25519 signature over (log, size, root, timestamp), with the public key in the pack or the one
   given with ``--public-key`` (a key you obtained from the portal's operators, not from the pack: see the trust
   model in docs/evidence.md), and that the key's id is the head's;
2. every audit event: its hash recomputed from its content (SHA-256 of the previous event's hash and the event's
   canonical JSON, as the portal computes it), then its RFC 6962 / 9162 inclusion proof against the head's root.

It prints ``PASS`` and exits 0, or prints every check that failed (which event ``seq``, which proof, the head, the
signature) and exits 1; 2 when the file cannot be read as a pack.

The portal runs this same file (``manage.py verify_evidence``); its tests hold its canonical encoding and Merkle
hashing equal to the portal's (``audit.services``, ``audit.merkle``), which it must not import to stay standalone.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import zipfile
from pathlib import Path

LOG_ID = "registry-portal-audit-log"
PACK_MEMBER = "pack.json"
HASHED_FIELDS = ("seq", "created_at", "actor", "action", "target_type", "target_id", "model_name", "version", "data")

# The portal's canonical JSON (audit/services.py): sorted keys, no spaces, UTF-8 as is.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class PackError(ValueError):
    """The file is not an evidence pack this verifier can read."""


def canonical_json(payload: dict) -> str:
    return _CANONICAL.encode(payload)


def event_hash(prev_hash: str, event: dict) -> str:
    payload = {name: event[name] for name in HASHED_FIELDS}
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode()).hexdigest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def inclusion_root(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    """RFC 9162 2.1.3.2: the root ``proof`` leads to from ``leaf`` at ``index``; ValueError when it cannot fit."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size}")
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ValueError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("the proof is shorter than the tree is deep")
    return result


def head_message(size: int, root_hex: str, timestamp_ms: int) -> bytes:
    """The bytes a tree head's signature covers (the portal's ``audit.merkle.head_message``)."""
    body = {"log": LOG_ID, "root": root_hex, "size": size, "timestamp": timestamp_ms}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


def load_pack(path: Path) -> dict:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                text = archive.read(PACK_MEMBER).decode()
        else:
            text = path.read_text(encoding="utf-8")
        pack = json.loads(text)
    except (OSError, KeyError, UnicodeDecodeError, json.JSONDecodeError, zipfile.BadZipFile) as error:
        raise PackError(f"cannot read an evidence pack from {path}: {error}") from error
    if not isinstance(pack, dict) or not isinstance(pack.get("audit"), dict):
        raise PackError(f"{path} holds no audit section: not an evidence pack")
    return pack


def _public_key(audit: dict, override: bytes | None) -> bytes:
    if override is not None:
        return override
    return base64.b64decode(audit["public_key"]["ed25519"], validate=True)


def _check_signature(head: dict, public_key: bytes) -> list[str]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    failures = []
    if head.get("key_id") != key_id(public_key):
        failures.append(
            f"tree head: signed by key {head.get('key_id')!r}, but the public key's id is {key_id(public_key)!r}"
        )
    try:
        signature = base64.b64decode(head["signature"], validate=True)
        message = head_message(int(head["size"]), str(head["root"]), int(head["timestamp"]))
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError, TypeError):
        failures.append(
            "tree head signature: does not verify over the head's size, root and timestamp with the public key "
            "(the head or its signature was changed, or signed by another key)"
        )
    return failures


def _check_event(event: dict, size: int, root: bytes) -> list[str]:
    seq = event.get("seq")
    failures = []
    try:
        recomputed = event_hash(event["prev_hash"], event)
    except (KeyError, TypeError) as error:
        return [f"event #{seq}: cannot be read ({error!r} missing or malformed)"]
    if recomputed != event["hash"]:
        failures.append(f"event #{seq}: its content does not match its hash (edited, or its hash was changed)")
    try:
        proof = [bytes.fromhex(item) for item in event["proof"]]
        reached = inclusion_root(leaf_hash(bytes.fromhex(event["hash"])), int(seq) - 1, size, proof)
    except (KeyError, TypeError, ValueError) as error:
        return [*failures, f"event #{seq}: inclusion proof is malformed: {error}"]
    if reached != root:
        failures.append(f"event #{seq}: inclusion proof does not lead to the tree head's root")
    return failures


def verify_pack(pack: dict, *, public_key: bytes | None = None) -> list[str]:
    """Every check that failed, as one line each; an empty list is a pass."""
    audit = pack["audit"]
    try:
        head = audit["tree_head"]
        size, root = int(head["size"]), bytes.fromhex(head["root"])
        key = _public_key(audit, public_key)
    except (KeyError, TypeError, ValueError) as error:
        return [f"tree head: malformed ({error!r})"]
    failures = _check_signature(head, key)
    events = audit.get("events")
    if not isinstance(events, list):
        return [*failures, "audit events: missing"]
    for event in events:
        if not isinstance(event, dict):
            failures.append(f"audit events: an entry is not an event: {event!r:.80}")
            continue
        failures += _check_event(event, size, root)
    if audit.get("event_count") != len(events):
        failures.append(f"audit events: the pack says {audit.get('event_count')} events but holds {len(events)}")
    return failures


def main(argv: list[str] | None = None, out=None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(description="Verify a Registry Portal evidence pack offline.")
    parser.add_argument("file", type=Path, help="evidence.zip or pack.json")
    parser.add_argument(
        "--public-key",
        type=Path,
        help="the log's Ed25519 public key (raw 32 bytes base64, as in public_key.txt) to check against, "
        "instead of the one inside the pack",
    )
    args = parser.parse_args(argv)
    try:
        pack = load_pack(args.file)
        override = None
        if args.public_key is not None:
            override = base64.b64decode(args.public_key.read_text().strip(), validate=True)
    except (PackError, OSError, ValueError) as error:
        out.write(f"FAIL: {error}\n")
        return 2
    failures = verify_pack(pack, public_key=override)
    if failures:
        for line in failures:
            out.write(f"FAIL: {line}\n")
        return 1
    head = pack["audit"]["tree_head"]
    out.write(
        f"PASS: {len(pack['audit']['events'])} audit events recomputed and proven in the signed tree head of "
        f"{head['size']} events (root {head['root']}, key {head['key_id']})\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
