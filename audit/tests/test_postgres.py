"""What only PostgreSQL can show: concurrent writers, and flush past the TRUNCATE guard."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from audit.models import AuditEvent
from audit.services import Target, record, verify_chain

from .conftest import append

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS, APPENDS = 8, 50


def test_concurrent_writers_never_fork_the_chain():
    start = threading.Barrier(THREADS)

    def writer(thread: int):
        try:
            start.wait()
            for n in range(APPENDS):
                record(
                    actor="system:worker",
                    action="checks.completed",
                    target=Target(type="check_run", id=f"{thread}-{n}"),
                    data={"thread": thread, "n": n},
                )
        finally:
            connection.close()

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(writer, thread) for thread in range(THREADS)]:
            future.result()

    assert list(AuditEvent.objects.values_list("seq", flat=True)) == list(range(1, THREADS * APPENDS + 1))
    per_thread = [AuditEvent.objects.filter(data__thread=thread).count() for thread in range(THREADS)]
    assert per_thread == [APPENDS] * THREADS
    report = verify_chain()
    assert report.intact and report.count == THREADS * APPENDS


def test_flush_wipes_the_trail_and_then_guards_it_again():
    append(3)

    call_command("flush", interactive=False, verbosity=0)

    assert not AuditEvent.objects.exists()
    assert verify_chain().intact
    append(1)
    with pytest.raises(IntegrityError, match="TRUNCATE on audit_auditevent refused"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.count() == 1
