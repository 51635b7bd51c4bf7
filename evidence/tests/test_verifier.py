"""``verify_evidence.py``: a pass, one byte changed anywhere it checks naming what failed, its agreement with the
portal's own encoding and hashing, and a run in a fresh virtualenv holding only ``cryptography``."""

import base64
import copy
import io
import json
import subprocess
import sys
import zipfile

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import merkle
from audit.services import canonical_json, compute_hash, record_many
from audit.tests.conftest import version_event
from evidence import documents, verify_evidence
from evidence.pack import build_pack
from tests.factories import version_of


@pytest.fixture
def pack(mirror):
    """Churn v2's pack: its 12 events interleaved with 30 of other versions, so proofs cross the whole tree."""
    mirror.version()
    mirror.version()
    record_many([version_event("churn", n % 5) for n in range(30)])
    record_many([version_event("Churn", 2, note=f"ünïcode {n}", score=n / 7) for n in range(12)])
    record_many([version_event("other", 1) for _ in range(5)])
    return json.loads(documents.pack_json(build_pack(version_of("Churn", 2))))


def _flip_hex(text: str, at: int = 5) -> str:
    return text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1 :]


def _flip_signature(pack):
    raw = bytearray(base64.b64decode(pack["audit"]["tree_head"]["signature"]))
    raw[10] ^= 0x01
    pack["audit"]["tree_head"]["signature"] = base64.b64encode(bytes(raw)).decode()


def _event(pack, n=3):
    return pack["audit"]["events"][n]


TAMPERINGS = {
    "event action": (lambda p: _event(p).update(action=_event(p)["action"][:-1] + "X"), "content does not match"),
    "event data": (lambda p: _event(p)["data"].update(note="ünïcode 4"), "content does not match"),
    "event time": (lambda p: _event(p).update(created_at=_event(p)["created_at"].replace(":", "-", 1)), "content"),
    "event actor": (lambda p: _event(p).update(actor="system:syna"), "content does not match"),
    "event hash": (lambda p: _event(p).update(hash=_flip_hex(_event(p)["hash"])), "content does not match"),
    "event prev_hash": (lambda p: _event(p).update(prev_hash=_flip_hex(_event(p)["prev_hash"])), "content does not"),
    "proof": (lambda p: _event(p)["proof"].__setitem__(1, _flip_hex(_event(p)["proof"][1])), "inclusion proof"),
    "head root": (lambda p: p["audit"]["tree_head"].update(root=_flip_hex(p["audit"]["tree_head"]["root"])), "head"),
    "head size": (lambda p: p["audit"]["tree_head"].update(size=p["audit"]["tree_head"]["size"] + 1), "head"),
    "head timestamp": (
        lambda p: p["audit"]["tree_head"].update(timestamp=p["audit"]["tree_head"]["timestamp"] + 1),
        "head",
    ),
    "signature": (_flip_signature, "tree head signature"),
    "event removed": (lambda p: p["audit"]["events"].pop(2), "pack says 12 events but holds 11"),
}


def test_an_untouched_pack_passes(pack):
    assert pack["audit"]["event_count"] == 12
    assert verify_evidence.verify_pack(pack) == []


@pytest.mark.parametrize("what", TAMPERINGS)
def test_one_changed_byte_fails_and_the_message_names_it(pack, what):
    change, named = TAMPERINGS[what]
    tampered = copy.deepcopy(pack)
    change(tampered)
    failures = verify_evidence.verify_pack(tampered)
    assert failures, what
    assert any(named in line for line in failures), failures
    if what.startswith(("event", "proof")) and what != "event removed":
        seq = _event(pack)["seq"]
        assert all(line.startswith(f"event #{seq}:") for line in failures), failures
    if what.startswith("head") or what == "signature":
        assert failures[0].startswith("tree head signature"), failures


def test_another_key_given_on_the_command_line_fails_the_signature(pack, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = tmp_path / "pack.json"
    path.write_text(json.dumps(pack))
    other = tmp_path / "other.txt"
    other.write_text(base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode())
    out = io.StringIO()
    assert verify_evidence.main([str(path), "--public-key", str(other)], out=out) == 1
    assert "tree head signature" in out.getvalue() and "public key's id" in out.getvalue()
    mine = tmp_path / "mine.txt"
    mine.write_text(pack["audit"]["public_key"]["ed25519"])
    assert verify_evidence.main([str(path), "--public-key", str(mine)], out=io.StringIO()) == 0


def test_manage_py_verify_evidence_runs_the_same_code_on_the_zip(pack, tmp_path):
    path = tmp_path / "evidence.zip"
    path.write_bytes(documents.render_zip(pack))
    out = io.StringIO()
    call_command("verify_evidence", str(path), stdout=out)
    assert out.getvalue().startswith("PASS: 12 audit events")
    tampered = copy.deepcopy(pack)
    _flip_signature(tampered)
    path.write_bytes(documents.render_zip(tampered))
    out = io.StringIO()
    with pytest.raises(CommandError, match="does not verify"):
        call_command("verify_evidence", str(path), stdout=out)
    assert "FAIL: tree head signature" in out.getvalue()


def test_a_file_that_is_no_pack_exits_2(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    out = io.StringIO()
    assert verify_evidence.main([str(path)], out=out) == 2
    assert "not an evidence pack" in out.getvalue()


# --- the standalone copy agrees with the portal's definitions ---------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=6))
def test_the_canonical_encoding_is_the_portals(payload):
    assert verify_evidence.canonical_json(payload) == canonical_json(payload)


@pytest.mark.django_db
def test_an_events_hash_is_the_portals(pack):
    from audit.models import AuditEvent

    event = _event(pack)
    stored = AuditEvent.objects.get(seq=event["seq"])
    assert (
        verify_evidence.event_hash(event["prev_hash"], event) == compute_hash(stored.prev_hash, stored) == stored.hash
    )


@settings(max_examples=100, deadline=None)
@given(data=st.data(), size=st.integers(min_value=1, max_value=300))
def test_inclusion_roots_and_head_messages_are_the_portals(data, size):
    leaves = [merkle.leaf_hash(n.to_bytes(4, "big")) for n in range(size)]
    index = data.draw(st.integers(min_value=0, max_value=size - 1))

    lookup = _lookup(leaves)
    proof = merkle.inclusion_proof(index, size, lookup)
    root = merkle.root(size, lookup)
    assert verify_evidence.inclusion_root(leaves[index], index, size, proof) == root
    assert verify_evidence.head_message(size, root.hex(), 17) == merkle.head_message(size, root.hex(), 17)
    assert verify_evidence.leaf_hash(b"x") == merkle.leaf_hash(b"x")


def _lookup(leaves):
    memo = {}

    def node(level, index):
        if level == 0:
            return leaves[index]
        if (level, index) not in memo:
            memo[level, index] = merkle.node_hash(node(level - 1, 2 * index), node(level - 1, 2 * index + 1))
        return memo[level, index]

    return node


# --- a fresh virtualenv with only cryptography ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory):
    """A virtualenv made here with nothing but ``cryptography`` (pip as configured on this machine), once a session."""
    venv = tmp_path_factory.mktemp("verifier-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "cryptography"], check=True, timeout=300)
    return python


def test_the_zip_verifies_in_a_fresh_virtualenv_with_only_cryptography(pack, tmp_path, bare_python):
    installed = subprocess.run(
        [str(bare_python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout
    assert {line.split("==")[0].lower() for line in installed.split()} <= {
        "cryptography",
        "cffi",
        "pycparser",
        "pip",
        "setuptools",
    }
    archive = tmp_path / "evidence.zip"
    archive.write_bytes(documents.render_zip(pack))
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(tmp_path / "unpacked")
    unpacked = tmp_path / "unpacked"
    script = unpacked / "verify_evidence.py"
    passed = subprocess.run(
        [str(bare_python), str(script), str(archive), "--public-key", str(unpacked / "public_key.txt")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert passed.returncode == 0 and passed.stdout.startswith("PASS"), passed.stdout + passed.stderr
    tampered = json.loads((unpacked / "pack.json").read_text())
    _event(tampered)["data"]["note"] = "edited"
    (unpacked / "pack.json").write_text(json.dumps(tampered))
    failed = subprocess.run(
        [str(bare_python), str(script), str(unpacked / "pack.json")], capture_output=True, text=True
    )
    seq = _event(tampered)["seq"]
    assert failed.returncode == 1 and f"FAIL: event #{seq}: its content does not match" in failed.stdout, failed.stdout
