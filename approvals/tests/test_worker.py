"""A check run taken from Redis by a real Celery worker (not eager mode), as in production."""

import pytest

from approvals import services
from approvals.models import CheckRun
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_real_worker_runs_the_queued_checks(live_worker, mirror, owner):
    version = mirror.version(stage="Staging", metrics={"accuracy": 0.8})

    check_run = services.check_run_create(version=version, stage="Production", actor=owner)

    live_worker.wait(lambda: CheckRun.objects.get(pk=check_run.pk).is_done)
    assert "approvals.tasks.run_checks" in live_worker.handled()
    check_run.refresh_from_db()
    assert check_run.status == CheckRun.FAILED, check_run.error
    assert check_run.results.get(rule_id="accuracy").message == "accuracy = 0.8, needs >= 0.9"
    assert check_run.results.count() == 8
    event = AuditEvent.objects.get(action="checks.completed")
    assert (event.actor, event.data["status"]) == ("system:worker", "failed")
