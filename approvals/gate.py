"""May this version serve in this stage? The deployment gate's answer, with every reason it may not.

A selector: it reads the mirror and the portal's own rows, never MLflow, and writes nothing. Allowed only
when all of these hold (docs/gate.md):

1. the version holds the stage in the mirror;
2. the mirror is fresh for the model: the newest finished sync that covered it (a whole-registry pass or a
   one-model sync of it) succeeded for it, within ``GATE_MAX_MIRROR_AGE_SECONDS``;
3. it got there by an applied portal request: the version's latest applied request moved it to this stage;
4. that request's approvals still count for the version's current content (``selectors.quorum``);
5. no unacknowledged out-of-band change touches the version.

An unknown model is a 404 (the question is wrong, not the answer); an unknown version or alias of a known
model, or no version in the stage, is a refusal with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from registry.models import ModelVersion, RegisteredModel, SyncRun
from registry.selectors import last_synced_at

from .digest import version_content_digest
from .models import CheckRun, TransitionRequest, UnapprovedTransition
from .selectors import checks_for, quorum

GATE_STAGES = ("Staging", "Production")


@dataclass(frozen=True)
class GateReason:
    code: str
    message: str


@dataclass
class GateDecision:
    model_name: str
    stage: str
    version: int | None = None
    alias: str = ""
    reasons: list[GateReason] = field(default_factory=list)
    request: TransitionRequest | None = None
    approved_by: list[str] = field(default_factory=list)
    content_digest: str = ""
    check_run: CheckRun | None = None
    # Governance warnings that do not refuse (docs/governance.md): an expired waiver, an overdue re-certification.
    warnings: list[GateReason] = field(default_factory=list)
    waiver_expired: bool = False
    recertification: dict | None = None
    mirror_synced_at: object = None

    @property
    def allowed(self) -> bool:
        return not self.reasons

    def refuse(self, code: str, message: str) -> None:
        self.reasons.append(GateReason(code, message))

    def as_dict(self) -> dict:
        """What the API answers and ``manage.py gate --json`` prints."""
        common = {
            "allowed": self.allowed,
            "model": self.model_name,
            "stage": self.stage,
            "version": self.version,
            "alias": self.alias or None,
            "mirror_synced_at": self.mirror_synced_at,
            "warnings": [{"code": w.code, "message": w.message} for w in self.warnings],
            "waiver_expired": self.waiver_expired,
            "recertification": self.recertification,
            "overdue": bool(self.recertification and self.recertification["overdue"]),
        }
        if not self.allowed:
            return {
                **common,
                "detail": "; ".join(reason.message for reason in self.reasons),
                "code": "gate_refused",
                "reasons": [{"code": r.code, "message": r.message} for r in self.reasons],
            }
        return {
            **common,
            "request_id": self.request.pk,
            "approved_by": self.approved_by,
            "applied_at": self.request.applied_at,
            "content_digest": self.content_digest,
            "checks": check_run_dict(self.check_run),
        }


def check_run_dict(check_run: CheckRun | None) -> dict | None:
    """A check run with each rule's result and evidence (results prefetched or one query)."""
    if check_run is None:
        return None
    return {
        "id": check_run.pk,
        "stage": check_run.stage,
        "status": check_run.status,
        "policy": check_run.policy_label,
        "content_digest": check_run.content_digest,
        "finished_at": check_run.finished_at,
        "results": [check_result_dict(result) for result in check_run.results.order_by("position")],
    }


def check_result_dict(result) -> dict:
    """One rule's result (a stored ``CheckResult``, or a dry run's unsaved one) with its evidence."""
    return {
        "rule_id": result.rule_id,
        "rule_type": result.rule_type,
        "description": result.description,
        "status": result.status,
        "message": result.message,
        "evidence": result.evidence,
    }


def gate_decision(*, model_name: str, stage: str = "Production", version: int | None = None, alias: str | None = None):
    """The gate's answer for ``model_name`` in ``stage``: the given version, the version ``alias`` points at,
    or else the version the mirror shows in ``stage``. Http404 for an unknown model; ValidationError for a
    question that cannot be asked (an unknown stage, both a version and an alias)."""
    if stage not in GATE_STAGES:
        raise ValidationError({"stage": f"the gate answers for {' or '.join(GATE_STAGES)}, not {stage!r}"})
    if version is not None and alias:
        raise ValidationError({"alias": "ask for a version or an alias, not both"})
    model = RegisteredModel.objects.filter(name=model_name).first()
    if model is None:
        raise Http404(f"no model named {model_name!r} in the mirror")
    decision = GateDecision(model_name=model.name, stage=stage, version=version, alias=alias or "")
    _check_freshness(decision, model)
    found = _version(decision, model)
    if found is not None:
        decision.version = found.version
        _check_version(decision, found)
        _governance_warnings(decision, found)
    return decision


def _version(decision: GateDecision, model: RegisteredModel) -> ModelVersion | None:
    versions = ModelVersion.objects.filter(model=model).select_related("model", "run", "logged_model")
    if decision.alias:
        number = (model.aliases or {}).get(decision.alias)
        if number is None:
            decision.refuse("unknown_alias", f"{model.name} has no alias @{decision.alias} in the mirror.")
            return None
        decision.version = int(number)
    elif decision.version is None:
        found = versions.in_stage(decision.stage).first()
        if found is None:
            decision.refuse("no_version_in_stage", f"No version of {model.name} is in {decision.stage}.")
        return found
    found = versions.filter(version=decision.version).first()
    if found is None:
        decision.refuse("unknown_version", f"{model.name} has no version {decision.version} in the mirror.")
    return found


def _check_freshness(decision: GateDecision, model: RegisteredModel) -> None:
    synced_at = last_synced_at([model.name])[model.name]
    decision.mirror_synced_at = synced_at
    newest = (
        SyncRun.objects.filter(Q(model_name="") | Q(model_name=model.name), finished_at__isnull=False)
        .order_by("-finished_at", "-id")
        .first()
    )
    if synced_at is None:
        decision.refuse("mirror_not_synced", f"No sync has mirrored {model.name} yet: the portal cannot vouch for it.")
        return
    if newest is not None and newest.finished_at > synced_at:
        error = (newest.failures or {}).get(model.name) or newest.error or newest.status
        decision.refuse(
            "mirror_sync_failed",
            f"The newest sync covering {model.name} (#{newest.pk}, finished {newest.finished_at:%Y-%m-%d %H:%M:%S} "
            f"UTC) failed for it ({error}): the mirror may not show what MLflow holds.",
        )
        return
    age = timezone.now() - synced_at
    limit = timedelta(seconds=settings.GATE_MAX_MIRROR_AGE_SECONDS)
    if age > limit:
        decision.refuse(
            "mirror_stale",
            f"The mirror of {model.name} was last synced {int(age.total_seconds())} s ago, more than the "
            f"{settings.GATE_MAX_MIRROR_AGE_SECONDS} s the gate accepts (GATE_MAX_MIRROR_AGE_SECONDS).",
        )


def _check_version(decision: GateDecision, version: ModelVersion) -> None:
    label = f"{version.model.name} v{version.version}"
    if version.stage != decision.stage:
        decision.refuse("not_in_stage", f"{label} is in {version.stage}, not {decision.stage}.")
    request = (
        TransitionRequest.objects.filter(version=version, status=TransitionRequest.APPLIED)
        .order_by("-applied_at", "-id")
        .first()
    )
    if request is None:
        decision.refuse("no_applied_request", f"No applied portal request moved {label} to {decision.stage}.")
    elif request.to_stage != decision.stage:
        decision.refuse(
            "no_applied_request",
            f"The latest applied portal request for {label} (#{request.pk}) moved it to {request.to_stage}, "
            f"not {decision.stage}.",
        )
        request = None
    if request is not None:
        digest = version_content_digest(version)
        counted = quorum(request, digest)
        if len(counted) < request.required_approvals:
            decision.refuse(
                "approvals_stale",
                f"Only {len(counted)} of the {request.required_approvals} approvals of request #{request.pk} still "
                f"count for {label}'s current content: it changed since they were given (card, run data or tags).",
            )
        decision.request, decision.content_digest = request, digest
        decision.approved_by = sorted(r.reviewer.get_username() for r in counted)
        decision.check_run = checks_for(request, version, digest)
    unacknowledged = UnapprovedTransition.objects.unacknowledged().filter(
        model_name=version.model.name, version_number=version.version
    )
    if version.mirrored_since:
        unacknowledged = unacknowledged.filter(seen_at__gte=version.mirrored_since)
    for change in unacknowledged.order_by("seen_at", "id"):
        decision.refuse(
            "unapproved_transition",
            f"Unacknowledged change made outside the portal: {change.describe()} (seen "
            f"{change.seen_at:%Y-%m-%d %H:%M:%S} UTC); an admin must acknowledge it.",
        )


def _governance_warnings(decision: GateDecision, version: ModelVersion) -> None:
    """Warn (never refuse) of an expired waiver on a Production version and an overdue re-certification."""
    from .selectors_governance import production_waiver_expired
    from .services.recertification import recertification_state

    decision.waiver_expired = production_waiver_expired(version)
    if decision.waiver_expired:
        decision.warnings.append(GateReason("waiver_expired", "a waiver of this version expired: its rule fails again"))
    state = recertification_state(version)
    decision.recertification = state
    if state and state["overdue"]:
        decision.warnings.append(
            GateReason(
                "recertification_overdue", f"re-certification was due {state['due_at']:%Y-%m-%d} and is not certified"
            )
        )
