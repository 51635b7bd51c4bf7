from django.core.management.commands import flush
from django.db import connections


class Command(flush.Command):
    """Django's ``flush``, allowed past the audit trail's TRUNCATE guard on PostgreSQL.

    Test teardown (TransactionTestCase) flushes with TRUNCATE; a deliberate wipe is the one
    sanctioned way to empty the trail. An anchor exported with ``verify_audit --export-head``
    still detects it afterwards. See docs/audit.md.
    """

    help = flush.Command.help + " On PostgreSQL this includes the append-only audit trail."

    def handle(self, **options):
        connection = connections[options["database"]]
        if connection.vendor != "postgresql":
            return super().handle(**options)
        with connection.cursor() as cursor:
            cursor.execute("SET audit.allow_truncate = on")
        try:
            return super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET audit.allow_truncate")
