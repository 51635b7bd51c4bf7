"""API v1: the one ``NinjaAPI``, each app's router mounted on it, and the error model (docs/api.md).

Configuration only: routers live in their apps (``registry/api.py``, ``audit/api.py``, ``approvals/api.py``,
``cards/api.py``) and only parse, ask access, call one service or selector, and serialise. Every error
answers ``{"detail": str, "code": str}`` (plus ``errors`` where there are per-field ones), whatever raised it.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as RequestValidationError

from accounts.auth import TokenRefused, api_auth
from approvals.api import router as approvals_router
from approvals.api_governance import router as governance_router
from audit.api import router as audit_router
from cards.api import router as cards_router
from evidence.api import router as evidence_router
from findings.api import router as findings_router
from registry.access import Conflict
from registry.api import router as registry_router
from registry.mlflow_client import MlflowUnavailable
from registry.selectors import ModelRenamed

api = NinjaAPI(
    title="Registry Portal API",
    version="1",
    description="Pipelines and deployment jobs ask the portal what reviewers see. See docs/api.md.",
    auth=api_auth(),
    docs_url="/docs",
    openapi_url="/openapi.json",
    urls_namespace="api-v1",
)
api.add_router("/", registry_router)
api.add_router("/", audit_router)
api.add_router("/", approvals_router)
api.add_router("/", governance_router)
api.add_router("/", cards_router)
api.add_router("/", findings_router)
api.add_router("/", evidence_router)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    429: "rate_limited",
    503: "mlflow_unavailable",
}


def error(request, status: int, detail: str, code: str | None = None, **extra):
    return api.create_response(
        request, {"detail": detail, "code": code or CODES.get(status, "error"), **extra}, status=status
    )


@api.exception_handler(ValidationError)
def invalid(request, exc: ValidationError):
    """A service refused a value (400): which field, and why."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    detail = "; ".join(
        f"{field}: {' '.join(messages)}" if field != "__all__" else " ".join(messages)
        for field, messages in errors.items()
    )
    return error(request, 400, detail, "invalid", errors=errors)


@api.exception_handler(RequestValidationError)
def unparsable(request, exc: RequestValidationError):
    """The request does not match the schema (422): ninja's per-field errors stay under ``errors``."""
    parts = []
    for item in exc.errors:
        where = ".".join(str(part) for part in item.get("loc", ()))
        parts.append(f"{where}: {item.get('msg', 'invalid')}" if where else str(item.get("msg", item)))
    return error(request, 422, "; ".join(parts) or "invalid request", "validation_error", errors=exc.errors)


@api.exception_handler(AuthenticationError)
def unauthenticated(request, exc: AuthenticationError):
    detail = (
        str(exc)
        if isinstance(exc, TokenRefused)
        else ("authentication required: send 'Authorization: Bearer <token>' or sign in")
    )
    response = error(request, 401, detail, getattr(exc, "code", "unauthorized"))
    response["WWW-Authenticate"] = 'Bearer realm="api"' + (
        ', error="invalid_token"' if isinstance(exc, TokenRefused) else ""
    )
    return response


@api.exception_handler(Throttled)
def throttled(request, exc: Throttled):
    response = error(request, 429, "too many failed token attempts from this address; retry later")
    if exc.wait:
        response["Retry-After"] = str(int(exc.wait))
    return response


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    code = "csrf_failed" if exc.status_code == 403 and "CSRF" in str(exc) else None
    return error(request, exc.status_code, str(exc), code)


@api.exception_handler(PermissionDenied)
def forbidden(request, exc: PermissionDenied):
    return error(request, 403, str(exc) or "you may not do this")


@api.exception_handler(Http404)
def not_found(request, exc: Http404):
    return error(request, 404, str(exc) or "not found")


@api.exception_handler(ModelRenamed)
def renamed(request, exc: ModelRenamed):
    return error(request, 404, f"the model was renamed to {exc.new_name!r}", "model_renamed", new_name=exc.new_name)


@api.exception_handler(Conflict)
def conflict(request, exc: Conflict):
    return error(request, 409, str(exc) or "conflict")


@api.exception_handler(MlflowUnavailable)
def mlflow_unavailable(request, exc: MlflowUnavailable):
    return error(request, 503, f"MLflow is unreachable: {exc}")


def unknown_endpoint(request, rest: str = ""):
    """Any other URL under ``/api/v1/``: the JSON 404 of the error model, not the HTML page."""
    return JsonResponse({"detail": f"no API endpoint at {request.path}", "code": "not_found"}, status=404)
