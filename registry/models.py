"""The read-only mirror of the MLflow Model Registry. Only ``registry.sync`` writes here."""

from django.db import models
from django.urls import reverse

STAGES = ("None", "Staging", "Production", "Archived")
TERMINAL_RUN_STATUSES = ("FINISHED", "FAILED", "KILLED")


class RegisteredModelQuerySet(models.QuerySet):
    def visible_to(self, user):
        # Every signed-in user may read the registry; kept as one place to narrow it later.
        return self if user.is_authenticated else self.none()


class RegisteredModel(models.Model):
    name = models.CharField(max_length=255, unique=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict)
    aliases = models.JSONField(default=dict, help_text="alias -> version number")
    owner = models.CharField(max_length=255, blank=True, db_index=True)
    created_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(null=True)

    objects = RegisteredModelQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("registry:model_detail", args=[self.name])


class Run(models.Model):
    run_id = models.CharField(max_length=64, unique=True)
    experiment_id = models.CharField(max_length=64, blank=True)
    experiment_name = models.CharField(max_length=500, blank=True)
    run_name = models.CharField(max_length=500, blank=True)
    user = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, blank=True)
    start_time = models.DateTimeField(null=True)
    end_time = models.DateTimeField(null=True)
    params = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    tags = models.JSONField(default=dict)
    git_commit = models.CharField(max_length=64, blank=True, db_index=True)
    source_name = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["-start_time"]

    def __str__(self):
        return self.run_id

    @property
    def is_finished(self):
        return self.status in TERMINAL_RUN_STATUSES


class Dataset(models.Model):
    """A dataset logged with ``mlflow.log_input``; identified by (name, digest)."""

    name = models.CharField(max_length=500)
    digest = models.CharField(max_length=64, db_index=True)
    source_type = models.CharField(max_length=64, blank=True)
    source = models.TextField(blank=True)
    schema = models.TextField(blank=True)
    profile = models.TextField(blank=True)

    class Meta:
        ordering = ["name", "digest"]
        constraints = [models.UniqueConstraint(fields=["name", "digest"], name="dataset_name_digest_unique")]

    def __str__(self):
        return f"{self.name}@{self.digest}"


class RunInput(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="inputs")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="run_inputs")
    context = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "dataset", "context"], name="run_input_unique"),
        ]

    def __str__(self):
        return f"{self.run_id} <- {self.dataset_id} ({self.context})"


class ModelVersionQuerySet(models.QuerySet):
    def in_stage(self, stage):
        return self.filter(stage=stage)


class ModelVersion(models.Model):
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    stage = models.CharField(max_length=20, default="None", db_index=True)
    aliases = models.JSONField(default=list)
    status = models.CharField(max_length=40, blank=True)
    # The MLflow run id itself is the key (``version.run_id``); no database constraint, because
    # a version may point at a run that is not mirrored (yet) or has none at all (None).
    run = models.ForeignKey(
        Run,
        to_field="run_id",
        db_column="run_id",
        db_constraint=False,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="versions",
    )
    source = models.TextField(blank=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict)
    created_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(null=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["model", "-version"]
        constraints = [models.UniqueConstraint(fields=["model", "version"], name="model_version_unique")]

    def __str__(self):
        return f"{self.model.name} v{self.version}"

    def get_absolute_url(self):
        return reverse("registry:version_detail", args=[self.model.name, self.version])

    @property
    def mirrored_run(self):
        """The mirrored Run, or None when the version has no run or it is not mirrored."""
        try:
            return self.run
        except Run.DoesNotExist:
            return None


class StageChange(models.Model):
    """A stage or alias change of one version, as seen by sync (MLflow keeps no such history).

    Kept by model *name* so the history survives the model's deletion from the mirror.
    Later apps (approvals) read these rows to detect out-of-band transitions.
    """

    KIND_STAGE = "stage"
    KIND_ALIAS = "alias"

    model_name = models.CharField(max_length=255, db_index=True)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=[(KIND_STAGE, "stage"), (KIND_ALIAS, "alias")])
    alias = models.CharField(max_length=255, blank=True)
    from_value = models.CharField(max_length=255, blank=True)
    to_value = models.CharField(max_length=255, blank=True)
    mlflow_timestamp = models.DateTimeField(null=True)
    seen_at = models.DateTimeField(auto_now_add=True)
    sync_run = models.ForeignKey("SyncRun", null=True, on_delete=models.SET_NULL, related_name="changes")

    class Meta:
        ordering = ["seen_at", "id"]

    def __str__(self):
        subject = f"alias {self.alias}" if self.kind == self.KIND_ALIAS else "stage"
        return f"{self.model_name} v{self.version} {subject}: {self.from_value or '-'} -> {self.to_value or '-'}"


class SyncRun(models.Model):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STATUS_CHOICES = [(RUNNING, "running"), (SUCCEEDED, "succeeded"), (FAILED, "failed")]

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=RUNNING)
    model_name = models.CharField(max_length=255, blank=True, help_text="empty: whole registry")
    full = models.BooleanField(default=False)
    trigger = models.CharField(max_length=40, default="command")
    counts = models.JSONField(default=dict)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"sync #{self.pk} {self.status}"

    @property
    def is_done(self):
        return self.status != self.RUNNING
