"""Changing findings: each change locks its row, is audited in the same transaction (target: the version), and
after commit sends ``signals.findings_changed`` so approvals re-runs the version's checks for open requests."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import record
from registry.access import enforce
from registry.sync.model import version_target

from . import access
from .models import SEVERITIES, Finding
from .signals import findings_changed


def _changed(version) -> None:
    if version is not None:
        transaction.on_commit(lambda: findings_changed.send(sender=Finding, version=version), robust=True)


def _audit(actor, action: str, finding: Finding, **data) -> None:
    record(
        actor=actor,
        action=action,
        target=version_target(finding.model_name, finding.version_number),
        data={"finding": finding.pk, "title": finding.title, "severity": finding.severity, **data},
    )


def finding_open(
    *,
    actor,
    version,
    title: str,
    severity: str,
    owner,
    description: str = "",
    category: str = "validation_issue",
    due_date=None,
    card_section: str = "",
    check_result_id: int | None = None,
    rule_id: str = "",
) -> Finding:
    enforce(access.open_refusal(actor, version))
    if severity not in SEVERITIES:
        raise ValidationError(f"unknown severity {severity!r}; severities are {', '.join(SEVERITIES)}")
    if not title.strip():
        raise ValidationError("a finding needs a title")
    with transaction.atomic():
        finding = Finding.objects.create(
            version=version,
            model_name=version.model.name,
            version_number=version.version,
            title=title.strip(),
            description=description,
            severity=severity,
            category=category,
            owner=owner,
            due_date=due_date,
            card_section=card_section,
            check_result_id=check_result_id,
            rule_id=rule_id,
            opened_by=actor,
        )
        _audit(actor, "finding.opened", finding, owner=owner.get_username())
        _changed(version)
    return finding


def _transition(actor, finding_id: int, refusal, status: str, action: str, **fields) -> Finding:
    with transaction.atomic():
        finding = Finding.objects.select_for_update(of=("self",)).select_related("version__model").get(pk=finding_id)
        enforce(refusal(actor, finding))
        finding.status = status
        for name, value in fields.items():
            setattr(finding, name, value)
        finding.resolved_at = timezone.now() if status in (Finding.CLOSED, Finding.ACCEPTED) else None
        finding.save()
        _audit(actor, action, finding, status=status)
        _changed(finding.version)
    return finding


def finding_remediate(*, actor, finding_id: int, notes: str) -> Finding:
    if not notes.strip():
        raise ValidationError("remediation notes are required")
    return _transition(
        actor,
        finding_id,
        access.remediate_refusal,
        Finding.REMEDIATED,
        "finding.remediated",
        remediation_notes=notes.strip(),
    )


def finding_close(*, actor, finding_id: int) -> Finding:
    return _transition(actor, finding_id, access.close_refusal, Finding.CLOSED, "finding.closed")


def finding_accept(*, actor, finding_id: int) -> Finding:
    return _transition(actor, finding_id, access.accept_refusal, Finding.ACCEPTED, "finding.accepted")


def finding_reopen(*, actor, finding_id: int) -> Finding:
    return _transition(actor, finding_id, access.reopen_refusal, Finding.OPEN, "finding.reopened")


def findings_carry_over(*, actor, from_version, to_version, finding_ids: list[int]) -> list[Finding]:
    """Copy the unresolved findings ``finding_ids`` of ``from_version`` (the owner says they still apply) to
    ``to_version``, open, each linked by ``carried_from``; ids not unresolved on ``from_version`` are refused."""
    enforce(access.carry_over_refusal(actor, from_version, to_version))
    with transaction.atomic():
        sources = list(Finding.objects.of_version(from_version).unresolved().filter(pk__in=finding_ids))
        missing = set(finding_ids) - {f.pk for f in sources}
        if missing:
            raise ValidationError(f"not unresolved findings of this version: {', '.join(map(str, sorted(missing)))}")
        carried = []
        for source in sources:
            finding = Finding.objects.create(
                version=to_version,
                model_name=to_version.model.name,
                version_number=to_version.version,
                title=source.title,
                description=source.description,
                severity=source.severity,
                category=source.category,
                owner=source.owner,
                due_date=source.due_date,
                card_section=source.card_section,
                rule_id=source.rule_id,
                opened_by=actor,
                carried_from=source,
            )
            _audit(actor, "finding.carried_over", finding, carried_from=source.pk, from_version=from_version.version)
            carried.append(finding)
        _changed(to_version)
    return carried
