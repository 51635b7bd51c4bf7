"""Writes to model cards: revisions (with conflict detection) and their publication to MLflow."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit.services import Target, record
from registry.access import enforce
from registry.mlflow_client import RegistryClient
from registry.models import ModelVersion
from registry_portal.celery import queue_task
from registry_portal.roles import SYSTEM_WORKER

from .access import card_edit_refusal, card_profile_refusal, card_publish_refusal
from .document import ARTIFACT_FILE, card_facts, card_markdown
from .models import CardPublication, CardRevision, ModelCard
from .profiles import PROFILES_BY_KEY, get_profile, profile_completeness, profile_of
from .sections import CARD_MAX_CHARS, SECTION_KEYS, SECTION_MAX_CHARS, SECTIONS_BY_KEY
from .selectors import card_draft_sections, card_revision_latest

logger = logging.getLogger(__name__)
REVISION_TAG = "model_card.revision"
COMPLETE_TAG = "model_card.complete"
PROFILE_TAG = "model_card.profile"


class EditConflict(Exception):
    """Someone saved the card after the revision this edit was based on; nothing was written."""

    def __init__(self, latest: CardRevision | None):
        super().__init__("the card changed since you started editing")
        self.latest = latest


class NothingChanged(ValueError):
    pass


def _validate_sizes(sections: dict[str, str]) -> None:
    errors = {}
    for key, text in sections.items():
        if len(text) > SECTION_MAX_CHARS:
            errors[key] = (
                f"{SECTIONS_BY_KEY[key].title} is {len(text):,} characters; the limit is {SECTION_MAX_CHARS:,} per section."
            )
    total = sum(len(text) for text in sections.values())
    if total > CARD_MAX_CHARS:
        errors["__all__"] = f"The card would be {total:,} characters; the limit is {CARD_MAX_CHARS:,} per card."
    if errors:
        raise ValidationError(errors)


def card_revision_create(
    *, actor, version, changes: dict[str, str], base_revision_id: int | None, summary: str
) -> CardRevision:
    """Save ``changes`` (section key → prose) on top of revision ``base_revision_id`` (None: the draft).

    Refuses with ``EditConflict`` when the card's latest revision is not the base — someone saved
    in between — and with ``ValidationError`` when a size limit is exceeded; nothing is written then.
    The new revision's publication to MLflow is queued after commit.
    """
    enforce(card_edit_refusal(actor, version))
    unknown = set(changes) - set(SECTION_KEYS)
    if unknown:
        raise ValueError(f"unknown card sections: {sorted(unknown)}")
    try:
        with transaction.atomic():
            revision = _create_revision(actor, version, changes, base_revision_id, summary)
    except IntegrityError as exc:
        # Two first saves of the same card, or two saves racing past the lock on a database without one.
        raise EditConflict(card_revision_latest(version)) from exc
    transaction.on_commit(lambda: queue_task("cards.tasks.publish_revision", revision.pk))
    return revision


def _create_revision(actor, version, changes, base_revision_id, summary) -> CardRevision:
    card, latest = _locked_card(version)
    if (latest.pk if latest else None) != base_revision_id:
        raise EditConflict(latest)
    base_sections = latest.sections if latest else card_draft_sections(version)[0]
    sections = {key: base_sections.get(key, "") for key in SECTION_KEYS} | {
        key: text.replace("\r\n", "\n") for key, text in changes.items()
    }
    _validate_sizes(sections)
    if latest is not None and sections == {key: latest.sections.get(key, "") for key in SECTION_KEYS}:
        raise NothingChanged("nothing changed since the revision you edited")
    card = _card_for(version, card)
    revision = _write_revision(card, latest, sections, actor=actor, summary=summary)
    changed = [key for key in SECTION_KEYS if sections[key] != base_sections.get(key, "")]
    record(
        actor=actor,
        action="card.revised",
        target=_target(revision),
        data={
            "revision": revision.number,
            "base_revision": latest.number if latest else None,
            "summary": revision.summary,
            "sections_changed": changed,
            "complete": revision.complete,
            "percent": revision.percent,
        },
    )
    return revision


def _locked_card(version) -> tuple[ModelCard | None, CardRevision | None]:
    card = ModelCard.objects.select_for_update().for_version(version).order_by("-pk").first()
    return card, (card.revisions.order_by("-number").first() if card else None)


def _card_for(version, card: ModelCard | None, **fields) -> ModelCard:
    """``card`` linked to ``version`` (created when the version has none yet), with ``fields`` set."""
    if card is None:
        return ModelCard.objects.create(
            model_name=version.model.name,
            version=version.version,
            run_id=version.run_id or "",
            model_version=version,
            **fields,
        )
    changed = {"model_version": version} if card.model_version_id != version.pk else {}
    changed |= {name: value for name, value in fields.items() if getattr(card, name) != value}
    if changed:
        for name, value in changed.items():
            setattr(card, name, value)
        card.save(update_fields=list(changed))
    return card


def _write_revision(card, latest, sections, *, actor, summary) -> CardRevision:
    """The next revision of ``card``, judged under the card's profile, with its pending publication."""
    completeness = profile_completeness(sections, profile_of(card), saved=True)
    revision = CardRevision.objects.create(
        card=card,
        number=(latest.number + 1) if latest else 1,
        base_revision=latest,
        author=actor.get_username(),
        summary=summary.strip()[:200],
        sections=sections,
        complete=completeness.complete,
        percent=completeness.percent,
        profile=card.profile,
    )
    CardPublication.objects.create(revision=revision)
    return revision


def card_profile_change(*, actor, version, profile: str) -> CardRevision:
    """Make ``version``'s card follow ``profile`` (a ``cards.profiles`` key): a new revision with the same prose,
    judged under the new profile, audited as ``card.profile_changed`` and published like any other.

    A card never saved (it follows the default) gets revision 1 from its draft. ``NothingChanged`` when the
    card already follows ``profile``; ``ValueError`` for an unknown key.
    """
    enforce(card_profile_refusal(actor, version))
    if profile not in PROFILES_BY_KEY:
        raise ValueError(f"unknown card profile {profile!r}")
    try:
        with transaction.atomic():
            card, latest = _locked_card(version)
            previous = profile_of(card).key
            if previous == profile:
                raise NothingChanged(f"the card already follows {PROFILES_BY_KEY[profile].title}")
            sections = dict(latest.sections) if latest else card_draft_sections(version)[0]
            card = _card_for(version, card, profile=profile)
            revision = _write_revision(
                card, latest, sections, actor=actor, summary=f"Profile: {PROFILES_BY_KEY[profile].title}"
            )
            record(
                actor=actor,
                action="card.profile_changed",
                target=_target(revision),
                data={
                    "revision": revision.number,
                    "from": previous,
                    "to": profile,
                    "complete": revision.complete,
                    "percent": revision.percent,
                },
            )
    except IntegrityError as exc:
        raise EditConflict(card_revision_latest(version)) from exc
    transaction.on_commit(lambda: queue_task("cards.tasks.publish_revision", revision.pk))
    return revision


def _target(revision: CardRevision) -> Target:
    card = revision.card
    return Target(type="card_revision", id=str(revision.pk), model_name=card.model_name, version=card.version)


# ---- publishing -------------------------------------------------------------------------------
def card_publish(*, revision: CardRevision) -> CardPublication:
    """Log ``model_card.md`` on the version's run and set the version's card tags; idempotent.

    Already published (or superseded) → no MLflow call at all. A revision older than the one MLflow
    already shows, or than the card's latest, is marked superseded instead of overwriting newer text.
    ``MlflowUnavailable`` propagates (the task retries it); ``MlflowRequestError`` too (the task fails it).
    """
    publication = CardPublication.objects.get(revision=revision)
    if publication.status in (CardPublication.PUBLISHED, CardPublication.SUPERSEDED):
        return publication
    card = revision.card
    version = (
        ModelVersion.objects.select_related("model", "run", "logged_model").filter(pk=card.model_version_id).first()
    )
    if version is None:
        return card_publication_fail(revision=revision, reason="the model version is no longer in the registry")
    if card.revisions.filter(number__gt=revision.number).exists():
        return _supersede(publication, "a newer revision was saved before this one was published")
    CardPublication.objects.filter(pk=publication.pk).update(attempts=F("attempts") + 1)
    client = RegistryClient()
    shown = client.get_version(card.model_name, card.version).tags.get(REVISION_TAG, "")
    if shown.isdigit() and int(shown) > revision.number:
        return _supersede(publication, f"MLflow already shows revision {shown}")
    note, profile = "", get_profile(revision.profile)
    if version.run_id:
        text = card_markdown(card_facts(version), revision.sections, revision=revision, profile=profile)
        client.log_text(version.run_id, text, ARTIFACT_FILE)
    else:
        note = "tags only: the version has no run to attach model_card.md to"
    client.set_version_tags(
        card.model_name,
        card.version,
        {
            REVISION_TAG: str(revision.number),
            COMPLETE_TAG: "true" if revision.complete else "false",
            PROFILE_TAG: profile.key,
        },
    )
    with transaction.atomic():
        claimed = CardPublication.objects.filter(pk=publication.pk).exclude(status=CardPublication.PUBLISHED)
        if claimed.update(status=CardPublication.PUBLISHED, published_at=timezone.now(), error="", note=note):
            record(
                actor=SYSTEM_WORKER,
                action="card.published",
                target=_target(revision),
                data={
                    "revision": revision.number,
                    "artifact": f"runs:/{version.run_id}/{ARTIFACT_FILE}" if version.run_id else None,
                    "complete": revision.complete,
                    "profile": profile.key,
                },
            )
    publication.refresh_from_db()
    return publication


def _supersede(publication: CardPublication, reason: str) -> CardPublication:
    CardPublication.objects.filter(
        pk=publication.pk, status__in=(CardPublication.PENDING, CardPublication.FAILED)
    ).update(status=CardPublication.SUPERSEDED, note=reason)
    publication.refresh_from_db()
    return publication


def card_publication_note_error(*, revision: CardRevision, reason: str) -> None:
    """Keep the latest transient error visible while the publication is still pending a retry."""
    CardPublication.objects.filter(revision=revision, status=CardPublication.PENDING).update(error=reason)


def card_publication_fail(*, revision: CardRevision, reason: str) -> CardPublication:
    CardPublication.objects.filter(revision=revision).exclude(status=CardPublication.PUBLISHED).update(
        status=CardPublication.FAILED, error=reason
    )
    logger.warning("publishing %s failed: %s", revision, reason)
    return CardPublication.objects.get(revision=revision)


def card_publication_retry(*, actor, version, revision: CardRevision) -> CardPublication:
    """Queue publishing again (after a failure, or a pending one whose task was lost)."""
    enforce(card_publish_refusal(actor, version))
    with transaction.atomic():
        CardPublication.objects.filter(
            revision=revision, status__in=(CardPublication.FAILED, CardPublication.PENDING)
        ).update(status=CardPublication.PENDING, queued_at=timezone.now())
        transaction.on_commit(lambda: queue_task("cards.tasks.publish_revision", revision.pk))
    return CardPublication.objects.get(revision=revision)


def cards_follow_rename(*, old_name: str, new_name: str) -> None:
    """Cards keep the model's name beside their link to it: a model renamed in MLflow takes them along."""
    ModelCard.objects.filter(model_name=old_name).update(model_name=new_name)
