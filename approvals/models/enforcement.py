"""Enforcement: an unapproved Production stage/alias change put back by a worker (docs/governance.md, "Enforcement")."""

from django.db import models


class Revert(models.Model):
    """Putting back one unapproved change of the Production stage or alias, exactly once.

    ``plan`` says what to restore: ``{"kind": "stage", "version": n, "from": <stage the change set>,
    "to": <previous stage>}`` or ``{"kind": "alias", "alias": a, "from": <version the change set or None>,
    "to": <previous target or None (delete)>}``. Claimed like an applying request (token + lease).
    """

    QUEUED, APPLYING, REVERTED, SKIPPED, FAILED = "queued", "applying", "reverted", "skipped", "failed"
    STATUS_CHOICES = [(s, s) for s in (QUEUED, APPLYING, REVERTED, SKIPPED, FAILED)]

    unapproved = models.OneToOneField("approvals.UnapprovedTransition", on_delete=models.CASCADE, related_name="revert")
    model_name = models.CharField(max_length=256, db_index=True)
    version_number = models.PositiveIntegerField()
    plan = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=QUEUED, db_index=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)
    claim_token = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    mlflow_outcome = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"revert #{self.pk} of {self.model_name} v{self.version_number}: {self.status}"

    def describe(self) -> str:
        if self.status == self.REVERTED:
            return "reverted"
        if self.status in (self.SKIPPED, self.FAILED):
            return f"could not revert: {self.last_error}"
        return "revert pending"
