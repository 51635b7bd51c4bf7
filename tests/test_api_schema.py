"""schemathesis against ``/api/v1/openapi.json``: every operation, as every persona, with generated input.

Each operation is called with bounded generated examples through the portal's WSGI application (in this
process, on the test database), with a bearer token of the persona; operations with path parameters are
called twice per example: as generated (mostly unknown objects: 404, 409 refusals, 422) and with the path
of objects that exist (a model with a Production and a Staging version, a pending request with its checks,
a card, a dataset, a sync run), so the real answers are checked too. Checks: no 5xx, every documented
response matches its schema, the content type is JSON, every status is documented or one of the error
model's (docs/api.md), and every error is ``{"detail": str, "code": str}``.

Tasks the API queues on commit (a sync, a check run) never run: the test transaction never commits.
"""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings

from accounts.services import api_token_create
from approvals.models import Policy
from tests.factories import file_request, make_sync, write_card

pytestmark = pytest.mark.django_db

APP = get_wsgi_application()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)

PERSONAS = ("outsider", "owner", "reviewer_a", "reviewer_b", "lead", "admin")
# Bounded: 18 operations × 6 personas in about a minute on two cores (SCHEMATHESIS_MAX_EXAMPLES to explore more).
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "6"))
# The error model's statuses (docs/api.md): any operation may answer them, undocumented per operation.
ERROR_STATUSES = {400, 401, 403, 404, 409, 422, 429, 503}
# A method the path does not have (schemathesis tries TRACE, OPTIONS...): ninja's plain 405 with ``Allow``.
NOT_ALLOWED = 405
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.content_type_conformance,
]


@pytest.fixture
def wsgi_requests_keep_the_test_transaction():
    """Django's WSGI handler closes the connection after each request (``close_old_connections``), which would
    end the test's transaction on PostgreSQL; the test client disconnects it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(mirror, people, owner, django_capture_on_commit_callbacks):
    """Churn v1 in Production, v2 in Staging with a card and a pending Production request (checks run), a
    finished sync; a token per persona. Answers the path parameters of these objects and the tokens."""
    rules = [
        {"id": "accuracy", "type": "metric_threshold", "metric": "accuracy", "op": ">=", "value": 0.9},
        {"id": "approvals", "type": "required_approvals", "count": 2},
    ]
    Policy.objects.update_or_create(model_name="", defaults={"rules": {"Production": rules}})
    mirror.version("Churn", stage="Production")
    staging = mirror.version("Churn", stage="Staging")
    write_card(staging, {"intended_use": "Monthly churn risk."})
    pending = file_request(owner, staging, capture=django_capture_on_commit_callbacks)
    sync_run = make_sync()
    tokens = {
        persona: api_token_create(actor=user, user=user, name="schemathesis")[1]
        for persona, user in people.items()
        if persona not in ("anonymous", "staff")
    }
    known = {
        "name": "Churn",
        "version": staging.version,
        "request_id": pending.pk,
        "sync_run_id": sync_run.pk,
        "digest": "d1g3st",
    }
    return known, tokens


def check_status_and_error_body(response, case):
    """A documented status, or one of the error model's; an error is ``{"detail": str, "code": str}``."""
    documented = {int(code) for code in case.operation.definition.raw["responses"] if code.isdigit()}
    status = response.status_code
    assert status in documented | ERROR_STATUSES | {NOT_ALLOWED}, f"{case.method} {case.formatted_path}: {status}"
    if status == NOT_ALLOWED:
        assert case.method.upper() not in response.headers.get("allow", [""])[0], response.headers
    elif status >= 400 and status not in documented:
        body = response.json()
        assert isinstance(body.get("detail"), str), body
        assert isinstance(body.get("code"), str), body


def call_and_check(case, token: str):
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    case.validate_response(response, checks=CHECKS)
    check_status_and_error_body(response, case)
    return response


@pytest.mark.parametrize("persona", PERSONAS)
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, persona, world, wsgi_requests_keep_the_test_transaction):
    known, tokens = world
    call_and_check(case, tokens[persona])
    if case.path_parameters:
        case.path_parameters = {key: known.get(key, value) for key, value in case.path_parameters.items()}
        call_and_check(case, tokens[persona])
