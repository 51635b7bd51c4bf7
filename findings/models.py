"""A finding on a model version: an issue a reviewer or ML lead raised, owned by someone, worked to closed."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

SEVERITIES = ("low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


class FindingQuerySet(models.QuerySet):
    def of_version(self, version):
        return self.filter(version=version)

    def unresolved(self):
        """Open, or remediated but not yet closed: what blocks approval."""
        return self.filter(status__in=(Finding.OPEN, Finding.REMEDIATED))

    def at_least(self, severity: str):
        return self.filter(severity__in=SEVERITIES[severity_rank(severity) :])

    def overdue(self, today=None):
        return self.unresolved().filter(due_date__lt=today or timezone.localdate())


class Finding(models.Model):
    OPEN, REMEDIATED, CLOSED, ACCEPTED = "open", "remediated", "closed", "accepted"
    STATUS_CHOICES = [(s, s) for s in (OPEN, REMEDIATED, CLOSED, ACCEPTED)]
    SEVERITY_CHOICES = [(s, s) for s in SEVERITIES]
    CATEGORY_CHOICES = [
        ("validation_issue", "validation issue"),
        ("limitation", "limitation"),
        ("policy_exception_request", "policy exception request"),
    ]

    version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="findings"
    )
    model_name = models.CharField(max_length=256, db_index=True)
    version_number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES)
    severity_rank = models.PositiveSmallIntegerField(default=0, editable=False)
    category = models.CharField(max_length=30, choices=CATEGORY_CHOICES, default="validation_issue")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_findings")
    due_date = models.DateField(null=True, blank=True)
    card_section = models.CharField(max_length=100, blank=True)
    check_result_id = models.PositiveBigIntegerField(null=True, blank=True)
    rule_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=OPEN, db_index=True)
    remediation_notes = models.TextField(blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="opened_findings"
    )
    carried_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["-severity_rank", "due_date", "id"]

    def __str__(self):
        return f"finding #{self.pk} on {self.model_name} v{self.version_number}: {self.title}"

    def save(self, *args, **kwargs):
        self.severity_rank = severity_rank(self.severity)
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("findings:finding_detail", args=[self.pk])

    @property
    def is_unresolved(self) -> bool:
        return self.status in (self.OPEN, self.REMEDIATED)

    @property
    def is_overdue(self) -> bool:
        return self.is_unresolved and self.due_date is not None and self.due_date < timezone.localdate()
