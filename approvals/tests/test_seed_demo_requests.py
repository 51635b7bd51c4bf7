import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from approvals.models import CheckRun, TransitionRequest
from audit.models import AuditEvent
from registry.models import RegisteredModel
from registry_portal.roles import is_owner

pytestmark = pytest.mark.django_db


def test_it_files_the_demo_request_once_through_the_service(mirror, django_capture_on_commit_callbacks):
    User.objects.create_user("owner")
    for _ in range(3):
        mirror.version("ChurnPredictor", owner="owner")

    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo_requests")
        call_command("seed_demo_requests")

    request = TransitionRequest.objects.get()
    assert (request.model_name, request.version_number, request.to_stage, request.status) == (
        "ChurnPredictor",
        3,
        "Staging",
        "pending",
    )
    assert CheckRun.objects.get(request=request).is_done


def test_it_makes_the_demo_owner_an_owner_in_the_portal_once(mirror, django_capture_on_commit_callbacks):
    owner = User.objects.create_user("owner")
    for _ in range(3):
        mirror.version("ChurnPredictor", owner="")  # mirrored with no portal owner, as after a first sync
    fraud = mirror.model("FraudDetector", owner="")
    assert not is_owner(owner, fraud)

    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo_requests")
        call_command("seed_demo_requests")

    assert is_owner(owner, fraud) and is_owner(owner, RegisteredModel.objects.get(name="ChurnPredictor"))
    added = AuditEvent.objects.filter(action="registry.owner_added")
    assert sorted(e.target_id for e in added) == ["ChurnPredictor", "FraudDetector"]
    assert {e.actor for e in added} == {"system:command-line"}
    assert TransitionRequest.objects.get().requested_by == owner


def test_it_says_what_is_missing(db):
    with pytest.raises(CommandError, match="run seed_demo first"):
        call_command("seed_demo_requests")
    User.objects.create_user("owner")
    with pytest.raises(CommandError, match="run sync_registry first"):
        call_command("seed_demo_requests")
