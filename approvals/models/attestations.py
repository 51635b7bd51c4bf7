"""Waivers (a time-limited exception to one failing rule of one version) and re-certifications (a Production
version's periodic "still fit for purpose"), both decided by ``Attestation`` rows under the Production quorum."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from .core import STAGE_CHOICES


class Waiver(models.Model):
    PENDING, ACTIVE, REJECTED, WITHDRAWN, EXPIRED = "pending", "active", "rejected", "withdrawn", "expired"
    STATUS_CHOICES = [(s, s) for s in (PENDING, ACTIVE, REJECTED, WITHDRAWN, EXPIRED)]

    version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="waivers"
    )
    model_name = models.CharField(max_length=256, db_index=True)
    version_number = models.PositiveIntegerField()
    stage = models.CharField(max_length=20, choices=STAGE_CHOICES)
    rule_id = models.CharField(max_length=100)
    justification = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="waivers")
    required_approvals = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=PENDING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"waiver #{self.pk} {self.model_name} v{self.version_number} {self.rule_id}: {self.status}"

    def get_absolute_url(self):
        return reverse("approvals:waiver_detail", args=[self.pk])

    @property
    def is_pending(self) -> bool:
        return self.status == self.PENDING

    def is_in_force(self, now=None) -> bool:
        return self.status == self.ACTIVE and self.expires_at > (now or timezone.now())


class Recertification(models.Model):
    OPEN, CERTIFIED, REJECTED, SUPERSEDED = "open", "certified", "rejected", "superseded"
    STATUS_CHOICES = [(s, s) for s in (OPEN, CERTIFIED, REJECTED, SUPERSEDED)]

    version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="recertifications"
    )
    model_name = models.CharField(max_length=256, db_index=True)
    version_number = models.PositiveIntegerField()
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=OPEN, db_index=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    required_approvals = models.PositiveSmallIntegerField()
    reminded_at = models.DateTimeField(null=True, blank=True)
    overdue_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_name", "version_number"], condition=Q(status="open"), name="one_open_recertification"
            )
        ]

    def __str__(self):
        return f"recertification #{self.pk} {self.model_name} v{self.version_number}: {self.status}"

    def get_absolute_url(self):
        return reverse("approvals:recertification_detail", args=[self.pk])

    @property
    def is_pending(self) -> bool:
        return self.status == self.OPEN

    def is_overdue(self, now=None) -> bool:
        return self.status in (self.OPEN, self.REJECTED) and self.due_at <= (now or timezone.now())


class Attestation(models.Model):
    APPROVE, REJECT = "approve", "reject"
    DECISION_CHOICES = [(APPROVE, "approve"), (REJECT, "reject")]

    waiver = models.ForeignKey(Waiver, null=True, blank=True, on_delete=models.CASCADE, related_name="attestations")
    recertification = models.ForeignKey(
        Recertification, null=True, blank=True, on_delete=models.CASCADE, related_name="attestations"
    )
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="attestations")
    decision = models.CharField(max_length=10, choices=DECISION_CHOICES)
    comment = models.TextField(blank=True)
    content_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(waiver__isnull=False) & Q(recertification__isnull=True))
                | (Q(waiver__isnull=True) & Q(recertification__isnull=False)),
                name="attestation_one_subject",
            ),
            models.UniqueConstraint(fields=["waiver", "reviewer"], name="one_attestation_per_waiver_reviewer"),
            models.UniqueConstraint(
                fields=["recertification", "reviewer"], name="one_attestation_per_recertification_reviewer"
            ),
            models.CheckConstraint(
                condition=~Q(decision="reject") | ~Q(comment=""), name="attestation_reject_needs_comment"
            ),
        ]

    def __str__(self):
        return f"{self.reviewer} {self.decision}s {'waiver' if self.waiver_id else 'recertification'}"

    @property
    def is_approval(self) -> bool:
        return self.decision == self.APPROVE

    def is_stale_against(self, current_digest: str) -> bool:
        # A waiver or re-certification attests one moment: any content digest recorded counts.
        return False
