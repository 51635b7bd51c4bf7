"""The evidence pack of one model version: everything an auditor asks "how did this get here?" about, as JSON.

``build_pack`` reads the mirror and the portal's rows (it writes nothing but, when the latest signed tree head
does not cover the version's events yet, a new head) in a fixed number of queries: every list is one query with
what it shows selected or prefetched, never a query per row. The audit events come with inclusion proofs in a
signed tree head (``proofs.audit_section``); the rest is a snapshot of the portal's rows at ``generated_at`` whose
every change is one of those events (docs/evidence.md: the trust model).
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.utils import timezone

from approvals.digest import PORTAL_TAG_PREFIXES, version_content_digest
from approvals.models import (
    Attestation,
    CheckResult,
    CheckRun,
    Recertification,
    RequestComment,
    Review,
    TransitionRequest,
    Waiver,
)
from cards.document import card_facts, card_json, card_markdown
from cards.lifecycle import lifecycle_changes
from cards.profiles import get_profile, point_sections, profile_of
from cards.selectors import card_revision_latest, card_revisions
from findings.selectors import version_findings
from registry.models import StageChange
from registry.selectors import version_inputs

from .proofs import audit_section

PACK_FORMAT = "registry-portal-evidence/1"


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


def build_pack(model_version) -> dict:
    """The pack of ``model_version`` (as ``registry.selectors.version_get_for_user`` returns it: model, run and
    LoggedModel selected). JSON-able: strings, numbers, lists and dicts only."""
    version = model_version
    digest = version_content_digest(version)
    requests = _requests(version, digest)
    return {
        "format": PACK_FORMAT,
        "generated_at": _iso(timezone.now()),
        "version": {
            "model_name": version.model.name,
            "version": version.version,
            "stage": version.stage,
            "aliases": list(version.aliases),
            "status": version.status,
            "description": version.description,
            "source": version.source,
            "created_at": _iso(version.created_at),
            "content_digest": digest,
        },
        "card": _card(version),
        "lineage": _lineage(version),
        "check_runs": _check_runs(version, digest),
        "requests": requests,
        "findings": _findings(version),
        "waivers": _waivers(version, digest),
        "recertifications": _recertifications(version, digest),
        "stage_history": _stage_history(version, requests),
        "mlflow_tags": {
            key: value for key, value in sorted(version.tags.items()) if key.startswith(PORTAL_TAG_PREFIXES)
        },
        "audit": audit_section(version.model.name, version.version),
    }


# --- the card ----------------------------------------------------------------------------------------------------


def profile_points(version, revision) -> list[dict]:
    """The card's sections under each point of its regulation profile (``cards.profiles``: the template, or EU AI
    Act Annex IV), with each point's completeness; a generated point ("changes over the lifecycle") is filled
    from ``cards.lifecycle`` since the version's last applied request (its whole history if none)."""
    profile = get_profile(revision.profile) if getattr(revision, "profile", "") else profile_of(revision.card)
    points = []
    for entry in point_sections(revision.card, profile, revision=revision):
        point = {
            "key": entry.point.key,
            "ref": entry.point.ref,
            "title": entry.point.title,
            "state": entry.status.state,
            "sections": [section.key for section, _ in entry.sections],
        }
        if entry.point.generated:
            point["lifecycle"] = _lifecycle(version, revision)
        points.append(point)
    return points


def _lifecycle(version, revision) -> dict:
    last = (
        TransitionRequest.objects.for_version(version)
        .filter(status=TransitionRequest.APPLIED, applied_at__isnull=False)
        .order_by("-applied_at")
        .values_list("applied_at", flat=True)
        .first()
    )
    changes = lifecycle_changes(revision.card, last, latest=revision)
    return {
        "since": _iso(changes.since),
        "stage_changes": [
            {"kind": c.kind, "alias": c.alias, "from": c.from_value, "to": c.to_value, "seen_at": _iso(c.seen_at)}
            for c in changes.stage_changes
        ],
        "revisions": [{"number": r.number, "saved_at": _iso(r.created_at)} for r in changes.revisions],
        "diff": changes.diff,
    }


def _card(version) -> dict:
    revision = card_revision_latest(version)
    if revision is None:
        return {"revision": None, "sections": {}, "markdown": None, "json": None, "revisions": [], "profile_points": []}
    facts = card_facts(version)
    publication = getattr(revision, "publication", None)
    return {
        "revision": revision.number,
        "complete": revision.complete,
        "percent": revision.percent,
        "publication": publication.status if publication is not None else None,
        "sections": dict(revision.sections),
        "markdown": card_markdown(facts, revision.sections, revision=revision),
        "json": card_json(facts, revision.sections, revision=revision),
        "revisions": [
            {"number": r.number, "author": r.author, "created_at": _iso(r.created_at), "summary": r.summary}
            for r in card_revisions(revision)
        ],
        "profile_points": profile_points(version, revision),
    }


# --- lineage -----------------------------------------------------------------------------------------------------


def _lineage(version) -> dict:
    run, logged = version.mirrored_run, version.mirrored_logged_model
    return {
        "run": None
        if run is None
        else {
            "run_id": run.run_id,
            "run_name": run.run_name,
            "experiment": run.experiment_name or run.experiment_id,
            "user": run.user,
            "status": run.status,
            "start_time": _iso(run.start_time),
            "end_time": _iso(run.end_time),
            "source_name": run.source_name,
            "lifecycle_stage": run.lifecycle_stage,
        },
        "run_id": version.run_id or "",
        "commit": run.commit if run is not None else "",
        "datasets": [
            {
                "name": i.dataset.name,
                "digest": i.dataset.digest,
                "context": i.context,
                "source_type": i.dataset.source_type,
                "source": i.dataset.source,
            }
            for i in version_inputs(version)
        ],
        "logged_model": None
        if logged is None
        else {
            "model_id": logged.model_id,
            "name": logged.name,
            "source_run_id": logged.source_run_id,
            "metrics": dict(logged.metrics),
            "metric_datasets": dict(logged.metric_datasets),
            "params": dict(logged.params),
        },
        # The run's, overlaid by the LoggedModel's (``ModelVersion.metrics``): what rules and reviewers judged.
        "params": dict(version.params),
        "metrics": dict(version.metrics),
    }


# --- governance ----------------------------------------------------------------------------------------------------


def _check_runs(version, digest: str) -> list[dict]:
    runs = (
        CheckRun.objects.filter(version=version)
        .prefetch_related(Prefetch("results", queryset=CheckResult.objects.order_by("position")))
        .order_by("id")
    )
    return [
        {
            "id": run.pk,
            "request_id": run.request_id,
            "stage": run.stage,
            "status": run.status,
            "policy": run.policy_label,
            "requested_by": run.requested_by,
            "content_digest": run.content_digest,
            "stale": run.is_stale_against(digest),
            "created_at": _iso(run.created_at),
            "finished_at": _iso(run.finished_at),
            "error": run.error,
            "rules": [
                {
                    "rule_id": result.rule_id,
                    "rule_type": result.rule_type,
                    "description": result.description,
                    "status": result.status,
                    "message": result.message,
                    "evidence": result.evidence,
                }
                for result in run.results.all()
            ],
        }
        for run in runs
    ]


def _requests(version, digest: str) -> list[dict]:
    requests = (
        TransitionRequest.objects.for_version(version)
        .select_related("requested_by")
        .prefetch_related(
            Prefetch("reviews", queryset=Review.objects.select_related("reviewer").order_by("created_at", "id")),
            Prefetch("comments", queryset=RequestComment.objects.select_related("author").order_by("created_at", "id")),
        )
        .order_by("id")
    )
    return [
        {
            "id": request.pk,
            "from_stage": request.from_stage,
            "to_stage": request.to_stage,
            "status": request.status,
            "justification": request.justification,
            "requested_by": _username(request.requested_by),
            "required_approvals": request.required_approvals,
            "approved_digest": request.approved_digest,
            "created_at": _iso(request.created_at),
            "decided_at": _iso(request.decided_at),
            "applied_at": _iso(request.applied_at),
            "mlflow_outcome": request.mlflow_outcome,
            "last_error": request.last_error,
            "reviews": [
                {
                    "reviewer": _username(review.reviewer),
                    "decision": review.decision,
                    "comment": review.comment,
                    "content_digest": review.content_digest,
                    # Given against other content than the version has now (docs/approvals.md: staleness).
                    "stale": review.is_stale_against(digest),
                    "created_at": _iso(review.created_at),
                    "updated_at": _iso(review.updated_at),
                }
                for review in request.reviews.all()
            ],
            "comments": [
                {"author": _username(comment.author), "body": comment.body, "created_at": _iso(comment.created_at)}
                for comment in request.comments.all()
            ],
        }
        for request in requests
    ]


def _findings(version) -> list[dict]:
    return [
        {
            "id": finding.pk,
            "title": finding.title,
            "description": finding.description,
            "severity": finding.severity,
            "category": finding.category,
            "status": finding.status,
            "owner": _username(finding.owner),
            "opened_by": _username(finding.opened_by),
            "due_date": _iso(finding.due_date),
            "card_section": finding.card_section,
            "rule_id": finding.rule_id,
            "check_result_id": finding.check_result_id,
            "remediation_notes": finding.remediation_notes,
            "carried_from": finding.carried_from_id,
            "created_at": _iso(finding.created_at),
            "resolved_at": _iso(finding.resolved_at),
        }
        for finding in version_findings(version).select_related("opened_by").order_by("id")
    ]


def _attestations(subject, digest: str) -> list[dict]:
    return [
        {
            "reviewer": _username(item.reviewer),
            "decision": item.decision,
            "comment": item.comment,
            "content_digest": item.content_digest,
            "stale": item.content_digest != digest,
            "created_at": _iso(item.created_at),
        }
        for item in subject.attestations.all()
    ]


_ATTESTATIONS = Prefetch("attestations", queryset=Attestation.objects.select_related("reviewer").order_by("id"))


def _waivers(version, digest: str) -> list[dict]:
    waivers = Waiver.objects.filter(version=version).select_related("requested_by").prefetch_related(_ATTESTATIONS)
    return [
        {
            "id": waiver.pk,
            "stage": waiver.stage,
            "rule_id": waiver.rule_id,
            "justification": waiver.justification,
            "requested_by": _username(waiver.requested_by),
            "required_approvals": waiver.required_approvals,
            "status": waiver.status,
            "created_at": _iso(waiver.created_at),
            "expires_at": _iso(waiver.expires_at),
            "decided_at": _iso(waiver.decided_at),
            "attestations": _attestations(waiver, digest),
        }
        for waiver in waivers.order_by("id")
    ]


def _recertifications(version, digest: str) -> list[dict]:
    recertifications = Recertification.objects.filter(version=version).prefetch_related(_ATTESTATIONS)
    return [
        {
            "id": recert.pk,
            "status": recert.status,
            "due_at": _iso(recert.due_at),
            "opened_at": _iso(recert.opened_at),
            "decided_at": _iso(recert.decided_at),
            "required_approvals": recert.required_approvals,
            "attestations": _attestations(recert, digest),
        }
        for recert in recertifications.order_by("id")
    ]


def _stage_history(version, requests: list[dict]) -> list[dict]:
    """Every stage and alias change sync saw, and where it came from: ``out_of_band`` (flagged as unapproved),
    ``portal`` (an applied request of this version moved it there), or ``mirror`` (seen, neither of those: e.g.
    before the portal governed the model)."""
    applied_to = {request["to_stage"] for request in requests if request["status"] == TransitionRequest.APPLIED}
    changes = StageChange.objects.of_version(version).select_related("unapproved__acknowledged_by")
    history = []
    for change in changes.order_by("seen_at", "id"):
        unapproved = getattr(change, "unapproved", None)
        if unapproved is not None:
            origin = "out_of_band"
        elif (change.kind == StageChange.KIND_STAGE and change.to_value in applied_to) or (
            change.kind == StageChange.KIND_ALIAS and applied_to
        ):
            origin = "portal"
        else:
            origin = "mirror"
        history.append(
            {
                "kind": change.kind,
                "alias": change.alias,
                "from": change.from_value,
                "to": change.to_value,
                "mlflow_timestamp": _iso(change.mlflow_timestamp),
                "seen_at": _iso(change.seen_at),
                "origin": origin,
                "acknowledged_by": _username(unapproved.acknowledged_by) if unapproved is not None else None,
                "acknowledged_at": _iso(unapproved.acknowledged_at) if unapproved is not None else None,
            }
        )
    return history
