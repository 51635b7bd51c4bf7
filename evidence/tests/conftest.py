"""A version that went through the real flow: a rejected request, an applied one (in a real MLflow store), a
finding and a waiver, and a card; every step through its service, so every step is an audit event."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import services
from approvals.models import Policy, TransitionRequest
from findings.services import finding_open
from registry.sync import sync_registry
from tests.factories import GOOD_TAGS, card_save, complete_sections, make_owner, version_of

RULES = {
    "Staging": [{"id": "approvals", "type": "required_approvals", "count": 1}],
    "Production": [
        {"id": "approvals", "type": "required_approvals", "count": 2},
        {"id": "accuracy", "type": "metric_threshold", "metric": "accuracy", "op": ">=", "value": 0.99},
    ],
    "Archived": [{"id": "approvals", "type": "required_approvals", "count": 1}],
}


@pytest.fixture
def governed(mlflow_store, owner, reviewer_a, reviewer_b, django_capture_on_commit_callbacks):
    """Churn v2: card saved, to Staging rejected once then applied, a finding, a pending waiver of ``accuracy``."""
    capture = django_capture_on_commit_callbacks
    Policy.objects.update_or_create(model_name="", defaults={"rules": RULES})
    mlflow_store.client.create_registered_model("Churn", tags={"owner": owner.username})
    mlflow_store.create_version("Churn", stage="Production", metrics={"accuracy": 0.91}, tags=GOOD_TAGS)
    mlflow_store.create_version("Churn", metrics={"accuracy": 0.93}, tags=GOOD_TAGS)
    with capture(execute=True):
        sync_registry()
    make_owner("Churn", owner)
    card_save(owner, version_of("Churn", 2), complete_sections(), summary="first card", capture=capture)
    rejected = _file(capture, owner, "wait for the card")
    with capture(execute=True):
        services.review_submit(actor=reviewer_a, request=rejected, decision="reject", comment="not yet")
    services.request_comment_create(actor=owner, request=rejected, body="card is there now")
    applied = _file(capture, owner, "card written")
    with capture(execute=True):
        services.review_submit(actor=reviewer_a, request=applied, decision="approve", comment="fine")
    with capture(execute=True):
        sync_registry()
    finding = finding_open(
        actor=reviewer_b,
        version=version_of("Churn", 2),
        title="recall drops on region north",
        severity="high",
        owner=owner,
    )
    waiver = services.waiver_create(
        actor=owner,
        version=version_of("Churn", 2),
        stage="Production",
        rule_id="accuracy",
        justification="retraining next sprint",
        expires_at=timezone.now() + timedelta(days=20),
    )
    rejected.refresh_from_db()
    applied.refresh_from_db()
    assert (rejected.status, applied.status) == (TransitionRequest.REJECTED, TransitionRequest.APPLIED)
    return {
        "version": version_of("Churn", 2),
        "rejected": rejected,
        "applied": applied,
        "finding": finding,
        "waiver": waiver,
    }


def _file(capture, owner, justification):
    with capture(execute=True):
        return services.transition_request_create(
            actor=owner, version=version_of("Churn", 2), to_stage="Staging", justification=justification
        )
