"""API v1: model cards (``/api/v1/models/{name}/versions/{version}/card``); mounted by ``registry_portal.api``.

Another face of the card page: reading is ``cards.selectors.card_page`` (every signed-in user), writing is
``cards.services.card_revision_create`` (which asks ``cards.access.card_edit_refusal``: 403 for anyone but
the model's owners and admins). A PUT based on a revision that is no longer the latest is a 409 whose body
carries the card as it is now; a PUT that changes nothing is a 200 with ``"changed": false`` (PUT is
idempotent: a pipeline that sends the same card twice is not an error).
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from ninja import Router, Schema

from registry.selectors import version_get_for_user

from . import selectors, services
from .sections import SECTION_KEYS

router = Router(tags=["cards"])


class CardIn(Schema):
    sections: dict[str, str]
    # The ``revision.id`` the edit starts from (what a GET answered); null for a card never saved.
    base_revision: int | None = None
    summary: str = "saved through the API"


class RevisionOut(Schema):
    id: int
    number: int
    author: str
    summary: str
    created_at: datetime
    base_revision_id: int | None


class CompletenessOut(Schema):
    complete: bool
    percent: int
    missing: list[str]
    placeholders: list[str]


class PublicationOut(Schema):
    status: str
    error: str
    note: str
    attempts: int
    published_at: datetime | None


class CardOut(Schema):
    model_name: str
    version: int
    draft: bool
    profile: str  # a cards.profiles key: what completeness is judged under
    revision: RevisionOut | None
    sections: dict[str, str]
    completeness: CompletenessOut
    publication: PublicationOut | None
    can_edit: bool


class CardSavedOut(CardOut):
    changed: bool


class CardConflictOut(Schema):
    detail: str
    code: str
    current: CardOut


def _card_out(version, user) -> dict:
    page = selectors.card_page(version, user)
    revision, publication, completeness = page.revision, page.publication, page.completeness
    return {
        "model_name": version.model.name,
        "version": version.version,
        "draft": page.is_draft,
        "profile": page.profile.key,
        "revision": None
        if revision is None
        else {
            "id": revision.pk,
            "number": revision.number,
            "author": revision.author,
            "summary": revision.summary,
            "created_at": revision.created_at,
            "base_revision_id": revision.base_revision_id,
        },
        "sections": {key: page.sections.get(key, "") for key in SECTION_KEYS},
        "completeness": {
            "complete": completeness.complete,
            "percent": completeness.percent,
            "missing": completeness.missing,
            "placeholders": completeness.placeholders,
        },
        "publication": None
        if publication is None
        else {
            "status": publication.status,
            "error": publication.error,
            "note": publication.note,
            "attempts": publication.attempts,
            "published_at": publication.published_at,
        },
        "can_edit": page.can_edit,
    }


@router.get("/models/{name}/versions/{version}/card", response=CardOut, url_name="card_detail")
def card_detail(request, name: str, version: int):
    """The card's latest revision (or the unsaved draft), its completeness and its publication to MLflow."""
    return _card_out(version_get_for_user(request.user, name, version), request.user)


@router.put(
    "/models/{name}/versions/{version}/card",
    response={200: CardSavedOut, 409: CardConflictOut},
    url_name="card_update",
)
def card_update(request, name: str, version: int, payload: CardIn):
    """Save sections (key → Markdown; the others are kept) as a new revision on top of ``base_revision``."""
    model_version = version_get_for_user(request.user, name, version)
    unknown = sorted(set(payload.sections) - set(SECTION_KEYS))
    if unknown:
        raise ValidationError({"sections": f"unknown sections {unknown}; the card has {', '.join(SECTION_KEYS)}"})
    try:
        services.card_revision_create(
            actor=request.user,
            version=model_version,
            changes=payload.sections,
            base_revision_id=payload.base_revision,
            summary=payload.summary,
        )
    except services.EditConflict as conflict:
        latest = conflict.latest
        detail = (
            f"the card changed since the revision you edited: it is at revision {latest.number} (id {latest.pk})"
            if latest
            else "the card has no saved revision yet: send base_revision null"
        )
        return 409, {"detail": detail, "code": "edit_conflict", "current": _card_out(model_version, request.user)}
    except services.NothingChanged:
        return 200, {**_card_out(model_version, request.user), "changed": False}
    return 200, {**_card_out(model_version, request.user), "changed": True}


def card_extra(user, version) -> dict:
    """What the registry's version endpoint shows of the card: its revision, completeness, publication."""
    page = selectors.card_page(version, user)
    return {
        "revision": page.revision.number if page.revision else None,
        "complete": page.completeness.complete,
        "percent": page.completeness.percent,
        "publication": page.publication.status if page.publication else None,
    }
