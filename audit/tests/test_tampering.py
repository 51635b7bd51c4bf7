"""Tampering with raw SQL, as someone with rights on the table could.

On PostgreSQL the triggers refuse UPDATE, DELETE and TRUNCATE first; the test then disables them
(as the table owner could) to prove that ``verify_chain`` catches the tampering anyway.
"""

import pytest
from django.db import IntegrityError, connection, transaction

from audit.services import GENESIS_HASH, verify_chain

from .conftest import append

pytestmark = pytest.mark.django_db

EVENTS = "audit_auditevent"


@pytest.fixture
def chain():
    return append(5)


def tamper(*statements, refused_on_postgresql=True):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            if refused_on_postgresql:
                with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
                    cursor.execute(statements[0])
            cursor.execute(f"ALTER TABLE {EVENTS} DISABLE TRIGGER USER")
        for statement in statements:
            cursor.execute(statement)


def forge(seq: int, prev_hash: str, hash: str):
    return (
        f"INSERT INTO {EVENTS} (seq, created_at, actor, action, target_type, target_id, model_name, version, data,"
        f" prev_hash, hash) VALUES ({seq}, '2026-01-01 00:00:00+00', 'mallory', 'review.approved', 'request', '9',"
        f" 'churn', 1, '{{}}', '{prev_hash}', '{hash}')"
    )


def assert_broken_at(seq: int, reason: str):
    report = verify_chain()
    assert not report.intact
    assert report.broken_seq == seq, report.reason
    assert reason in report.reason
    assert report.count == seq - 1


def test_an_intact_chain_verifies(chain):
    report = verify_chain()

    assert report.intact
    assert (report.count, report.head_seq, report.head_hash) == (5, 5, chain[-1].hash)
    assert report.head_time == chain[-1].created_at


def test_an_empty_chain_verifies(db):
    report = verify_chain()

    assert report.intact and report.count == 0 and report.head_hash == GENESIS_HASH


def test_it_finds_an_edited_field(chain):
    tamper(f"UPDATE {EVENTS} SET actor = 'mallory' WHERE seq = 3")

    assert_broken_at(3, "does not match its hash")


def test_it_finds_edited_data(chain):
    tamper(f'UPDATE {EVENTS} SET data = \'{{"run_id": "forged"}}\' WHERE seq = 2')

    assert_broken_at(2, "does not match its hash")


def test_it_finds_a_deleted_row(chain):
    tamper(f"DELETE FROM {EVENTS} WHERE seq = 3")

    assert_broken_at(3, "#3 is missing")


def test_it_finds_a_deleted_tail(chain):
    tamper(f"DELETE FROM {EVENTS} WHERE seq >= 4")

    assert_broken_at(4, "the chain head is #5 but the chain ends at #3")


def test_it_finds_two_swapped_rows(chain):
    tamper(
        f"UPDATE {EVENTS} SET seq = -2 WHERE seq = 2",
        f"UPDATE {EVENTS} SET seq = 2 WHERE seq = 4",
        f"UPDATE {EVENTS} SET seq = 4 WHERE seq = -2",
    )

    assert_broken_at(2, "prev_hash is not the hash of #1")


def test_it_finds_rows_whose_contents_were_swapped(chain):
    tamper(
        f"UPDATE {EVENTS} SET target_id = 'churn/4' WHERE seq = 2",
        f"UPDATE {EVENTS} SET target_id = 'churn/2' WHERE seq = 4",
    )

    assert_broken_at(2, "does not match its hash")


def test_it_finds_a_forged_row_after_the_head(chain):
    tamper(forge(6, chain[-1].hash, "f" * 64), refused_on_postgresql=False)

    assert_broken_at(6, "events after the chain head #5")


def test_it_finds_a_forged_row_that_replaced_another(chain):
    tamper(f"DELETE FROM {EVENTS} WHERE seq = 3", forge(3, chain[1].hash, "f" * 64))

    assert_broken_at(3, "does not match its hash")


def test_it_finds_a_truncated_table(chain):
    truncate = f"TRUNCATE {EVENTS}" if connection.vendor == "postgresql" else f"DELETE FROM {EVENTS}"
    tamper(truncate)

    assert_broken_at(1, "the chain head is #5 but the chain ends at #0")


@pytest.mark.postgres
def test_the_head_moves_only_forward_onto_the_newest_event(chain):
    statements = [
        "UPDATE audit_auditchainhead SET seq = 4, hash = %s",
        "UPDATE audit_auditchainhead SET seq = 6, hash = %s",
        "DELETE FROM audit_auditchainhead",
        "TRUNCATE audit_auditchainhead",
        "INSERT INTO audit_auditchainhead (id, seq, hash) VALUES (2, 9, %s)",
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            with pytest.raises(IntegrityError), transaction.atomic():
                cursor.execute(statement, [chain[3].hash] if "%s" in statement else None)

    assert verify_chain().intact


def tamper_head(statement: str):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditchainhead DISABLE TRIGGER USER")
        cursor.execute(statement)


def test_it_finds_a_head_whose_hash_was_changed(chain):
    tamper_head(f"UPDATE audit_auditchainhead SET hash = '{'e' * 64}'")

    report = verify_chain()
    assert report.broken_seq == 5
    assert "the chain head's hash is not the hash of #5" in report.reason


def test_it_finds_a_missing_head(chain):
    tamper_head("DELETE FROM audit_auditchainhead")

    assert_broken_at(1, "the chain head row is missing, yet events reach #5")
