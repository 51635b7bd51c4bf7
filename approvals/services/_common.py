"""What the service modules share: the 409 of the request state machine, its audit target, the guarded
status move, the row lock."""

from __future__ import annotations

from django.utils import timezone

from audit.services import Target
from registry.access import Conflict
from registry.models import ModelVersion

from ..models import TransitionRequest


class RequestConflict(Conflict):
    """The request is not in a state that allows this (closed, already reviewed, one already open): a 409."""


def request_target(request: TransitionRequest) -> Target:
    return Target(
        type="transition_request", id=str(request.pk), model_name=request.model_name, version=request.version_number
    )


def set_status(request: TransitionRequest, status: str, *, now=None) -> None:
    """Move ``request`` along ``TransitionRequest.TRANSITIONS`` (unsaved); any other move is a conflict."""
    if not request.can_move_to(status):
        raise RequestConflict(f"request #{request.pk} is {request.status}: it cannot become {status}")
    request.status = status
    request.status_changed_at = now or timezone.now()


def locked(request_or_id) -> TransitionRequest:
    """The request's row, locked until the transaction ends: every move of a request happens under it."""
    pk = getattr(request_or_id, "pk", request_or_id)
    return TransitionRequest.objects.select_for_update().get(pk=pk)


def request_version(request: TransitionRequest) -> ModelVersion:
    """The request's version with what its content digest reads; a conflict when it left the registry."""
    version = ModelVersion.objects.select_related("model", "run", "logged_model").filter(pk=request.version_id).first()
    if version is None:
        raise RequestConflict(f"{request.model_name} v{request.version_number} is no longer in the registry")
    return version
