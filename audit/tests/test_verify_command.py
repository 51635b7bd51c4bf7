import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from .conftest import append

pytestmark = pytest.mark.django_db


def verify(*args) -> str:
    out = StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def rewrite_last_event_and_head():
    """Replace the newest event with a well-formed forgery and move the head onto it: only an anchor notices."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
            cursor.execute("ALTER TABLE audit_auditchainhead DISABLE TRIGGER USER")
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 3")
        cursor.execute(
            "UPDATE audit_auditchainhead SET seq = 2, hash = (SELECT hash FROM audit_auditevent WHERE seq = 2)"
        )
    append(1, model="forged")


def test_it_prints_the_head_and_count_when_intact():
    events = append(3)

    assert verify() == f"audit chain intact: 3 events, head #3 {events[-1].hash}\n"


def test_it_fails_naming_the_first_broken_seq():
    append(3)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute("UPDATE audit_auditevent SET actor = 'mallory' WHERE seq = 2")

    with pytest.raises(
        CommandError, match=r"broken at seq 2: its content does not match its hash.*\(1 events verified before it\)"
    ):
        verify()


def test_it_exports_the_head_and_later_finds_it_still_in_the_chain(tmp_path):
    events = append(3)
    anchor = tmp_path / "head.json"

    verify("--export-head", str(anchor))
    append(2)
    output = verify("--expect-head", str(anchor))

    exported = json.loads(anchor.read_text())
    assert (exported["seq"], exported["hash"]) == (3, events[-1].hash)
    assert exported["time"] == events[-1].created_at.isoformat()
    assert "intact: 5 events" in output
    assert f"anchored head #3 from {anchor} is in the chain" in output


def test_an_anchor_catches_a_rewritten_chain_that_verifies_on_its_own(tmp_path):
    append(3)
    anchor = tmp_path / "head.json"
    verify("--export-head", str(anchor))

    rewrite_last_event_and_head()

    assert "intact: 3 events" in verify()
    with pytest.raises(CommandError, match="anchored head #3 .* is no longer in the chain"):
        verify("--expect-head", str(anchor))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the anchored head"),
        ("not json", "is not JSON"),
        ('{"seq": "3", "hash": "abc"}', "must hold"),
        ('{"seq": true, "hash": "abc"}', "must hold"),
        ("[1, 2]", "must hold"),
    ],
)
def test_a_bad_anchor_file_is_a_clear_error(tmp_path, content, message):
    append(1)
    anchor = tmp_path / "head.json"
    if content is not None:
        anchor.write_text(content)

    with pytest.raises(CommandError, match=message):
        verify("--expect-head", str(anchor))


def test_an_anchor_of_an_unknown_head_fails(tmp_path):
    append(2)
    anchor = tmp_path / "head.json"
    anchor.write_text(json.dumps({"seq": 9, "hash": "a" * 64}))

    with pytest.raises(CommandError, match="anchored head #9"):
        verify("--expect-head", str(anchor))
