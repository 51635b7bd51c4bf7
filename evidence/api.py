"""API v1: a version's evidence pack as JSON (docs/evidence.md), for whoever may read the version."""

from __future__ import annotations

from typing import Any

from ninja import Router

from registry.selectors import version_get_for_user

from .pack import build_pack

router = Router(tags=["evidence"])


@router.get("/models/{name}/versions/{version}/evidence", response=dict[str, Any], url_name="evidence_pack")
def evidence_pack(request, name: str, version: int):
    """Everything the portal holds about the version, with every audit event's inclusion proof in a signed tree
    head and the public key: verify it offline with ``verify_evidence.py`` (in ``evidence.zip``)."""
    return build_pack(version_get_for_user(request.user, name, version))
