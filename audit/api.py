"""API v1 of the audit log: the events (as the audit log page shows them), the chain verifier, the signed tree heads
and their inclusion and consistency proofs."""

import base64
import datetime as dt
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from . import merkle, selectors, tree
from .forms import AuditFilterForm
from .models import AuditEvent
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


class TreeHeadOut(Schema):
    size: int = Field(description="events covered: seq 1..size")
    root: str = Field(description="RFC 6962 Merkle root (hex) over the events' chain hashes in seq order")
    timestamp: int = Field(description="milliseconds since the epoch, as signed")
    signature: str = Field(description="Ed25519 over audit.merkle.head_message(size, root, timestamp), base64")
    key_id: str


class PublicKeyOut(Schema):
    algorithm: str = "Ed25519"
    public_key: str = Field(description="raw 32-byte public key, base64")
    key_id: str


class InclusionProofOut(Schema):
    seq: int
    leaf_index: int
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 || event hash bytes), hex")
    proof: list[str] = Field(description="audit path, leaf first, hex (RFC 9162 2.1.3)")


class ConsistencyProofOut(Schema):
    first: int
    second: int
    proof: list[str] = Field(description="RFC 9162 2.1.4 consistency proof, hex")


class ProofQuery(Schema):
    size: Annotated[int, Field(ge=1)] | None = Field(None, description="tree size; default: the latest signed head's")


class ConsistencyQuery(Schema):
    first: Annotated[int, Field(ge=0)]
    second: Annotated[int, Field(ge=1)]


@router.get(
    "/audit/tree-heads", response=list[TreeHeadOut], summary="Signed tree heads over the audit log, newest first"
)
@paginate
def tree_heads(request):
    _refuse_unless_whole_log(request.user)
    return selectors.tree_heads()


@router.get("/audit/tree-heads/public-key", response=PublicKeyOut, summary="The key that signs the tree heads")
def tree_head_key(request):
    _refuse_unless_whole_log(request.user)
    public_key = tree.public_key_bytes()
    return {"public_key": base64.b64encode(public_key).decode(), "key_id": tree.key_id(public_key)}


def _latest_size(size: int | None, *, at_least: int) -> int:
    latest = selectors.tree_heads().first()
    if latest is None:
        raise ValidationError({"size": "No tree head has been signed yet."})
    size = latest.size if size is None else size
    if size > latest.size:
        raise ValidationError({"size": f"The latest signed tree head covers {latest.size} events."})
    if size < at_least:
        raise ValidationError({"size": f"A tree of {size} events does not hold event {at_least}."})
    return size


@router.get(
    "/audit/events/{seq}/proof",
    response=InclusionProofOut,
    summary="Inclusion proof of an audit event in a signed tree head",
)
def inclusion_proof(request, seq: int, query: Query[ProofQuery]):
    _refuse_unless_whole_log(request.user)
    event = get_object_or_404(AuditEvent, seq=seq)
    size = _latest_size(query.size, at_least=seq)
    return {
        "seq": seq,
        "leaf_index": seq - 1,
        "tree_size": size,
        "leaf_hash": merkle.leaf_hash(bytes.fromhex(event.hash)).hex(),
        "proof": [node.hex() for node in tree.inclusion_proof(seq, size)],
    }


@router.get(
    "/audit/tree-heads/consistency",
    response=ConsistencyProofOut,
    summary="Consistency proof between two tree sizes",
)
def consistency_proof(request, query: Query[ConsistencyQuery]):
    _refuse_unless_whole_log(request.user)
    if query.first > query.second:
        raise ValidationError({"first": "The first tree must not be larger than the second."})
    second = _latest_size(query.second, at_least=query.first)
    return {
        "first": query.first,
        "second": second,
        "proof": [node.hex() for node in tree.consistency_proof(query.first, second)],
    }
