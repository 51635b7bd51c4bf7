"""Governance: policies (data), and the check runs that evaluate them against the mirror.

Transition requests, reviews and comments (the approvals issue) live here too, beside these.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from ..digest import version_content_digest
from ..rules import STAGES, PolicyErrors, validate_stages

STAGE_CHOICES = [(stage, stage) for stage in STAGES]


class PolicyQuerySet(models.QuerySet):
    def for_model(self, model_name: str):
        """The default policy and the model's override, if any (at most two rows)."""
        return self.filter(model_name__in=["", model_name], tier__isnull=True)

    def for_model_and_tier(self, model_name: str, tier: int | None):
        """The default, the model's row and the tier's row (at most three)."""
        query = models.Q(model_name__in=["", model_name], tier__isnull=True)
        if tier is not None:
            query |= models.Q(tier=tier)
        return self.filter(query)


class Policy(models.Model):
    """Rules per target stage. The row with an empty ``model_name`` is the default; a model's row
    overrides it stage by stage (a stage it does not list falls back to the default's)."""

    model_name = models.CharField(
        max_length=256,
        blank=True,
        help_text="Empty for the default policy and tier policies; else the registered model.",
    )
    tier = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Set (with an empty model name) for the policy of models of this risk tier."
    )
    description = models.TextField(blank=True)
    rules = models.JSONField(
        default=dict,
        help_text='Rules per target stage: {"Production": [{"type": "metric_threshold", "metric": "accuracy", '
        '"op": ">=", "value": 0.9}, ...]}. See docs/governance.md.',
    )
    # Governance beyond the stage rules (docs/governance.md). Empty on a model's row: the default's applies.
    recertify_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Re-certify a Production version this many days after it was approved."
    )
    recertify_remind_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Remind the reviewers this many days before a re-certification is due."
    )
    out_of_band = models.CharField(
        max_length=10,
        blank=True,
        choices=[("detect", "detect"), ("revert", "revert")],
        help_text="What a stage or alias change made outside the portal gets: detect (flag it) or revert (put it back).",
    )
    tier_from_card = models.JSONField(
        null=True,
        blank=True,
        help_text='Derive the risk tier from the card: {"section": "risk", "rules": [{"contains": "credit", "tier": 1}], '
        '"default": 2}. See docs/governance.md.',
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True)

    # The settings a policy document may give besides its stages (``policies.parse_yaml``); unset: inherited.
    SETTINGS = ("recertify_days", "recertify_remind_days", "out_of_band", "tier_from_card")

    objects = PolicyQuerySet.as_manager()

    class Meta:
        ordering = ["model_name"]
        verbose_name_plural = "policies"
        constraints = [
            models.UniqueConstraint(
                fields=["model_name"], condition=models.Q(tier__isnull=True), name="policy_model_name_unique"
            ),
            models.UniqueConstraint(fields=["tier"], condition=models.Q(tier__isnull=False), name="policy_tier_unique"),
            models.CheckConstraint(
                condition=models.Q(tier__isnull=True) | models.Q(model_name=""), name="policy_tier_has_no_model"
            ),
        ]

    def __str__(self):
        return self.label

    def save(self, *args, **kwargs):
        # Rules are validated on every save, not only in forms: a bad policy must never be stored.
        self.clean()
        super().save(*args, **kwargs)

    @property
    def label(self) -> str:
        if self.tier is not None:
            return f"tier {self.tier} policy"
        return f"policy for {self.model_name}" if self.model_name else "default policy"

    @property
    def is_default(self) -> bool:
        return not self.model_name and self.tier is None

    def clean(self):
        try:
            self.rules = validate_stages(self.rules)
        except PolicyErrors as exc:
            raise ValidationError({"rules": exc.messages}) from None

    def snapshot(self) -> dict:
        return {
            "model_name": self.model_name,
            **({"tier": self.tier} if self.tier is not None else {}),
            "description": self.description,
            "rules": self.rules,
            **self.settings(),
        }

    def settings(self) -> dict:
        """The governance settings this row gives (unset ones left out)."""
        return {key: getattr(self, key) for key in self.SETTINGS if getattr(self, key) not in (None, "")}


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
    model_name = models.CharField(max_length=256)
    version_number = models.PositiveIntegerField()
    request = models.ForeignKey(
        "TransitionRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="check_runs"
    )
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
        return self.version is None or self.is_stale_against(version_content_digest(self.version))


class CheckResult(models.Model):
    STATUS_CHOICES = [(s, s) for s in ("passed", "failed", "not_applicable", "waived")]

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


# --- transition requests ----------------------------------------------------------------------


class TransitionRequestQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=TransitionRequest.OPEN)

    def for_version(self, version):
        return self.filter(model_name=version.model.name, version_number=version.version)


class TransitionRequest(models.Model):
    """A request to move one model version to a stage; the state machine is in docs/approvals.md.

    Kept by model name and version number (like ``CheckRun``), so it outlives the mirror row.
    """

    PENDING, APPROVED, APPLYING, APPLIED = "pending", "approved", "applying", "applied"
    REJECTED, WITHDRAWN, SUPERSEDED, FAILED = "rejected", "withdrawn", "superseded", "failed"
    STATUS_CHOICES = [(s, s) for s in (PENDING, APPROVED, APPLYING, APPLIED, REJECTED, WITHDRAWN, SUPERSEDED, FAILED)]
    # Open: the version may not get another request. ``failed`` stays open until an admin retries it.
    OPEN = (PENDING, APPROVED, APPLYING, FAILED)
    TERMINAL = (APPLIED, REJECTED, WITHDRAWN, SUPERSEDED)
    # Every allowed move; services refuse anything else (tests walk the whole table).
    TRANSITIONS = {
        PENDING: {APPROVED, REJECTED, WITHDRAWN, SUPERSEDED},
        # ``-> superseded`` from approved/failed: the version left MLflow (deleted, or its name or number re-used)
        # before the apply claimed it; it must never be applied to whatever takes that name and number next.
        APPROVED: {APPLYING, SUPERSEDED},
        # ``applying -> approved``: the apply task's lease ran out (worker or broker lost); the sweeper re-queues.
        APPLYING: {APPLIED, FAILED, APPROVED},
        FAILED: {APPROVED, SUPERSEDED},
        APPLIED: set(),
        REJECTED: set(),
        WITHDRAWN: set(),
        SUPERSEDED: set(),
    }
    TARGET_STAGES = ("Staging", "Production", "Archived")

    version = models.ForeignKey(
        "registry.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="transition_requests",
    )
    model_name = models.CharField(max_length=256)
    version_number = models.PositiveIntegerField()
    from_stage = models.CharField(max_length=20, choices=STAGE_CHOICES)
    to_stage = models.CharField(max_length=20, choices=[(s, s) for s in TARGET_STAGES])
    justification = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="transition_requests"
    )
    required_approvals = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=PENDING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    # The content digest the deciding approvals and the passing check run were given against.
    approved_digest = models.CharField(max_length=64, blank=True)
    # Apply bookkeeping: the claim of the task doing the work, until when it holds it, and what went wrong.
    claim_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # What MLflow showed before we wrote (or that it already showed the target: nothing was written).
    mlflow_outcome = models.CharField(max_length=200, blank=True)

    objects = TransitionRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["model_name", "version_number"])]
        constraints = [
            models.UniqueConstraint(
                fields=["model_name", "version_number"],
                condition=models.Q(status__in=("pending", "approved", "applying", "failed")),
                name="one_open_request_per_version",
            ),
            models.CheckConstraint(
                condition=models.Q(to_stage__in=("Staging", "Production", "Archived")),
                name="request_to_stage_valid",
            ),
            models.CheckConstraint(condition=~models.Q(from_stage=models.F("to_stage")), name="request_changes_stage"),
        ]

    def __str__(self):
        return f"request #{self.pk} {self.model_name} v{self.version_number} → {self.to_stage}: {self.status}"

    def get_absolute_url(self):
        return reverse("approvals:request_detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def is_pending(self) -> bool:
        return self.status == self.PENDING

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.status]


class Review(models.Model):
    APPROVE, REJECT = "approve", "reject"
    DECISION_CHOICES = [(APPROVE, "approve"), (REJECT, "reject")]

    request = models.ForeignKey(TransitionRequest, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    decision = models.CharField(max_length=10, choices=DECISION_CHOICES)
    comment = models.TextField(blank=True)
    # The version's content digest when this decision was (last) given: approvals of other content are stale.
    content_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "reviewer"], name="one_review_per_reviewer"),
            models.CheckConstraint(
                condition=~models.Q(decision="reject") | ~models.Q(comment=""), name="reject_needs_comment"
            ),
        ]

    def __str__(self):
        return f"{self.reviewer} {self.decision}s request #{self.request_id}"

    @property
    def is_approval(self) -> bool:
        return self.decision == self.APPROVE

    def is_stale_against(self, current_digest: str) -> bool:
        return self.content_digest != current_digest


class RequestComment(models.Model):
    """Discussion on a request that decides nothing."""

    request = models.ForeignKey(TransitionRequest, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="request_comments")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"comment by {self.author} on request #{self.request_id}"


class UnapprovedTransitionQuerySet(models.QuerySet):
    def unacknowledged(self):
        return self.filter(acknowledged_at__isnull=True)


class UnapprovedTransition(models.Model):
    """A stage or alias change sync saw in MLflow with no applied portal request behind it.

    Shown as a red banner on the model page and the model list until an admin acknowledges it.
    """

    stage_change = models.OneToOneField(
        "registry.StageChange", null=True, on_delete=models.SET_NULL, related_name="unapproved"
    )
    model_name = models.CharField(max_length=256, db_index=True)
    version_number = models.PositiveIntegerField()
    kind = models.CharField(max_length=10)
    alias = models.CharField(max_length=256, blank=True)
    from_value = models.CharField(max_length=256, blank=True)
    to_value = models.CharField(max_length=256, blank=True)
    seen_at = models.DateTimeField()
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    objects = UnapprovedTransitionQuerySet.as_manager()

    class Meta:
        ordering = ["-seen_at", "-id"]

    def __str__(self):
        return f"unapproved {self.describe()}"

    def describe(self) -> str:
        if self.kind == "alias":
            moved = f"moved to v{self.version_number}" if self.to_value else f"removed from v{self.version_number}"
            return f"{self.model_name}: alias @{self.alias} {moved}"
        return f"{self.model_name} v{self.version_number}: {self.from_value or 'new'} → {self.to_value}"
