"""Governance: policies (data), and the check runs that evaluate them against the mirror.

Transition requests, reviews and comments (the approvals issue) live here too, beside these.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from .rules import STAGES, PolicyErrors, validate_stages

STAGE_CHOICES = [(stage, stage) for stage in STAGES]


class PolicyQuerySet(models.QuerySet):
    def for_model(self, model_name: str):
        """The default policy and the model's override, if any (at most two rows)."""
        return self.filter(model_name__in=["", model_name])


class Policy(models.Model):
    """Rules per target stage. The row with an empty ``model_name`` is the default; a model's row
    overrides it stage by stage (a stage it does not list falls back to the default's)."""

    model_name = models.CharField(
        max_length=255, blank=True, unique=True, help_text="Empty for the default policy; else the registered model."
    )
    description = models.TextField(blank=True)
    rules = models.JSONField(
        default=dict,
        help_text='Rules per target stage: {"Production": [{"type": "metric_threshold", "metric": "accuracy", '
        '"op": ">=", "value": 0.9}, ...]}. See docs/governance.md.',
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True)

    objects = PolicyQuerySet.as_manager()

    class Meta:
        ordering = ["model_name"]
        verbose_name_plural = "policies"

    def __str__(self):
        return self.label

    def save(self, *args, **kwargs):
        # Rules are validated on every save, not only in forms: a bad policy must never be stored.
        self.clean()
        super().save(*args, **kwargs)

    @property
    def label(self) -> str:
        return f"policy for {self.model_name}" if self.model_name else "default policy"

    @property
    def is_default(self) -> bool:
        return not self.model_name

    def clean(self):
        try:
            self.rules = validate_stages(self.rules)
        except PolicyErrors as exc:
            raise ValidationError({"rules": exc.messages}) from None

    def snapshot(self) -> dict:
        return {"model_name": self.model_name, "description": self.description, "rules": self.rules}


class CheckRunQuerySet(models.QuerySet):
    def latest_for(self, version):
        return self.filter(version=version).order_by("-id").first()


class CheckRun(models.Model):
    QUEUED, RUNNING, PASSED, FAILED, ERROR = "queued", "running", "passed", "failed", "error"
    STATUS_CHOICES = [(s, s) for s in (QUEUED, RUNNING, PASSED, FAILED, ERROR)]
    DONE = (PASSED, FAILED, ERROR)

    # The mirror row disappears when MLflow deletes the version; the name and number stay.
    version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="check_runs"
    )
    model_name = models.CharField(max_length=255)
    version_number = models.PositiveIntegerField()
    request_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    stage = models.CharField(max_length=20, choices=STAGE_CHOICES)
    content_digest = models.CharField(max_length=64)
    policy_label = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=QUEUED, db_index=True)
    requested_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    objects = CheckRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["model_name", "version_number"])]

    def __str__(self):
        return f"checks #{self.pk} {self.model_name} v{self.version_number} → {self.stage}: {self.status}"

    def get_absolute_url(self):
        return reverse("approvals:check_run_detail", args=[self.pk])

    @property
    def is_done(self) -> bool:
        return self.status in self.DONE

    @property
    def passed(self) -> bool:
        return self.status == self.PASSED

    def is_stale_against(self, current_digest: str) -> bool:
        return self.content_digest != current_digest

    @property
    def is_stale(self) -> bool:
        """The version's content (run data, version tags, card revision) changed since this run."""
        # Imported here: the digest reads cards, whose services import MLflow; models load before apps are ready.
        from .digest import version_content_digest

        return self.version is None or self.is_stale_against(version_content_digest(self.version))


class CheckResult(models.Model):
    STATUS_CHOICES = [(s, s) for s in ("passed", "failed", "not_applicable")]

    check_run = models.ForeignKey(CheckRun, on_delete=models.CASCADE, related_name="results")
    position = models.PositiveSmallIntegerField()
    rule_id = models.CharField(max_length=100)
    rule_type = models.CharField(max_length=40)
    description = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES)
    message = models.TextField()
    evidence = models.JSONField(default=dict)

    class Meta:
        ordering = ["check_run", "position"]
        constraints = [models.UniqueConstraint(fields=["check_run", "position"], name="check_result_position_unique")]

    def __str__(self):
        return f"{self.rule_id}: {self.status}"
