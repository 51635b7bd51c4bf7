"""API v1 of the audit log: the events (as the audit log page shows them) and the chain verifier."""

import datetime as dt
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from . import selectors
from .forms import AuditFilterForm
from .services import verify_chain

router = Router(tags=["audit"])

NO_NUL = r"^[^\x00]*$"


class AuditFilters(Schema):
    model: str = Field("", max_length=255, pattern=NO_NUL, description="exact model name")
    version: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(None, description="needs model")
    actor: str = Field("", max_length=150, pattern=NO_NUL, description="exact, e.g. alice or system:sync")
    action: str = Field("", max_length=100, pattern=NO_NUL, description="one of the actions in docs/audit.md")
    date_from: dt.date | None = None
    date_to: dt.date | None = None


class AuditEventOut(Schema):
    seq: int
    created_at: dt.datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    model_name: str
    version: int | None
    data: dict[str, Any]
    prev_hash: str
    hash: str


class ChainReportOut(Schema):
    intact: bool
    count: int = Field(description="events verified")
    head_seq: int
    head_hash: str
    head_time: dt.datetime | None
    broken_seq: int | None = Field(description="the first event that does not hold, when the chain is broken")
    reason: str


@router.get("/audit", response=list[AuditEventOut], summary="The audit log, newest first")
@paginate  # registry_portal.pagination.PageNumbers (NINJA_PAGINATION_CLASS)
def audit_events(request, filters: Query[AuditFilters]):
    """ML leads and admins, as the audit log page; the same filters and checks (400 names the field)."""
    _refuse_unless_whole_log(request.user)
    form = AuditFilterForm({key: value for key, value in filters.dict().items() if value not in ("", None)})
    if not form.is_valid():
        raise ValidationError(form.errors.as_data())
    return selectors.event_list_for_user(request.user, form.cleaned_data)


def _refuse_unless_whole_log(user) -> None:
    """403 with the audit log page's message for whoever may not read the whole log (the selector decides)."""
    selectors.event_list_for_user(user, None)


@router.get("/audit/verify", response=ChainReportOut, summary="Verify the audit hash chain")
def audit_verify(request):
    """Walks the whole chain (as ``manage.py verify_audit``); ML leads and admins, who may read the whole log."""
    _refuse_unless_whole_log(request.user)
    report = verify_chain()
    return {
        "intact": report.intact,
        **{f: getattr(report, f) for f in ("count", "head_seq", "head_hash", "head_time", "broken_seq", "reason")},
    }
