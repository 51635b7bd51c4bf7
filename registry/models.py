"""The read-only mirror of the MLflow Model Registry. Only ``registry.sync`` writes here."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from .fields import FloatMapField

STAGES = ("None", "Staging", "Production", "Archived")
TERMINAL_RUN_STATUSES = ("FINISHED", "FAILED", "KILLED")
READY = "READY"
# MLflow's own limits (mlflow/utils/validation.py and the SQL store's schema, 3.17.2): the mirror holds at
# least as much as MLflow accepts, or one long value would make a model unstorable.
MODEL_NAME_LENGTH = 256
ALIAS_LENGTH = 256
DATASET_CONTEXT_LENGTH = 500
OWNER_LENGTH = 255


class RegisteredModelQuerySet(models.QuerySet):
    def visible_to(self, user):
        # Every signed-in user may read the registry; kept as one place to narrow it later.
        return self if user.is_authenticated else self.none()


class RegisteredModel(models.Model):
    name = models.CharField(max_length=MODEL_NAME_LENGTH, unique=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict)
    aliases = models.JSONField(default=dict, help_text="alias -> version number")
    # MLflow's ``owner`` tag when it can be a user name (at most OWNER_LENGTH characters; see sync.owner_of): a
    # *suggestion* shown beside the portal's owners (``ModelOwner``), never trusted (docs/roles.md).
    owner_tag = models.CharField(max_length=OWNER_LENGTH, blank=True, db_index=True)
    # Set when sync saw the tag change (and what it was before), until an admin accepts or dismisses it.
    owner_tag_flagged_at = models.DateTimeField(null=True, blank=True)
    owner_tag_previous = models.CharField(max_length=OWNER_LENGTH, blank=True)
    created_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(null=True)
    # When sync first mirrored this model (this incarnation: a model re-created under the same name gets a new
    # row). Stage history is kept by name; what was seen before belongs to an earlier model of that name.
    mirrored_since = models.DateTimeField(null=True, blank=True)
    # Set when the last sync of this model failed (and kept until one succeeds): pages say the mirror is stale.
    sync_error = models.TextField(blank=True)
    stale_since = models.DateTimeField(null=True, blank=True)

    objects = RegisteredModelQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("registry:model_detail", args=[self.name])


class ModelOwner(models.Model):
    """A portal-assigned owner of a model: a user, or a group whose members all own it (docs/roles.md).

    Written only by ``registry.services.model_owner_add/remove`` (audited); ``roles.is_owner`` reads it.
    """

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="owners")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    group = models.ForeignKey("auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    added_by = models.CharField(max_length=150, blank=True)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="model_owner_user_xor_group",
            ),
            models.UniqueConstraint(fields=["model", "user"], name="model_owner_user_unique"),
            models.UniqueConstraint(fields=["model", "group"], name="model_owner_group_unique"),
        ]

    def __str__(self):
        return f"{self.model_id}: {self.label}"

    @property
    def label(self) -> str:
        return f"group {self.group.name}" if self.group_id else self.user.get_username()


class SyncCooldown(models.Model):
    """When "Sync now" was last asked for a scope (a model's name, or "" for the whole registry).

    A row per scope, moved forward by one conditional UPDATE, so the once-a-minute limit holds across processes.
    """

    scope = models.CharField(max_length=MODEL_NAME_LENGTH, unique=True)
    requested_at = models.DateTimeField()

    def __str__(self):
        return f"{self.scope or '(registry)'} @ {self.requested_at}"


class Run(models.Model):
    ACTIVE = "active"
    DELETED = "deleted"

    run_id = models.CharField(max_length=64, unique=True)
    experiment_id = models.CharField(max_length=64, blank=True)
    experiment_name = models.CharField(max_length=500, blank=True)
    run_name = models.CharField(max_length=500, blank=True)
    user = models.CharField(max_length=256, blank=True)
    status = models.CharField(max_length=20, blank=True)
    start_time = models.DateTimeField(null=True)
    end_time = models.DateTimeField(null=True)
    params = models.JSONField(default=dict)
    metrics = FloatMapField(default=dict)
    tags = models.JSONField(default=dict)
    # The commit as a lineage key: lower-case hex only (``mlflow.source.git.commit`` may hold anything,
    # e.g. ``1a2b3c4d-dirty``; the exact value stays in ``tags`` and is shown as text, see ``commit``).
    git_commit = models.CharField(max_length=64, blank=True, db_index=True)
    source_name = models.TextField(blank=True)
    lifecycle_stage = models.CharField(max_length=20, blank=True, default=ACTIVE)
    experiment_lifecycle_stage = models.CharField(max_length=20, blank=True, default=ACTIVE)
    # MLflow no longer returns this run (``mlflow gc``): kept so sync stops asking for it.
    gone = models.BooleanField(default=False)

    class Meta:
        ordering = ["-start_time"]

    def __str__(self):
        return self.run_id

    @property
    def is_finished(self):
        return self.status in TERMINAL_RUN_STATUSES

    @property
    def commit(self) -> str:
        """The commit exactly as MLflow holds it (may be anything, not only a hash)."""
        return (self.tags or {}).get("mlflow.source.git.commit", "")

    @property
    def is_deleted(self) -> bool:
        return self.lifecycle_stage == self.DELETED or self.experiment_lifecycle_stage == self.DELETED


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
    context = models.CharField(max_length=DATASET_CONTEXT_LENGTH, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "dataset", "context"], name="run_input_unique"),
        ]

    def __str__(self):
        return f"{self.run_id} <- {self.dataset_id} ({self.context})"


class LoggedModel(models.Model):
    """An MLflow 3 LoggedModel (``models:/m-…``) a version was registered from; may have no run at all.

    ``metrics`` holds the latest value per key; ``metric_datasets`` names the dataset each key was logged
    against (``{key: {"name", "digest"}}``), when it was.
    """

    model_id = models.CharField(max_length=64, unique=True)
    experiment_id = models.CharField(max_length=64, blank=True)
    name = models.TextField(blank=True)
    source_run_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=40, blank=True)
    params = models.JSONField(default=dict)
    metrics = FloatMapField(default=dict)
    metric_datasets = models.JSONField(default=dict)
    tags = models.JSONField(default=dict)
    created_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(null=True)

    def __str__(self):
        return self.model_id


class ModelVersionQuerySet(models.QuerySet):
    def in_stage(self, stage):
        """Versions in ``stage``, newest first: ``.first()`` is *the* version in that stage.

        Transitions made outside the portal without archiving can leave several versions in one stage;
        the newest is the one that counts (the one pages compare with, and rules read).
        """
        return self.filter(stage=stage).order_by("-version")

    def production_of(self, model_id: int):
        """The model's Production version (the newest, see ``in_stage``) with what comparing it needs, or None."""
        return self.filter(model_id=model_id).in_stage("Production").select_related("run", "logged_model").first()


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
    # Parsed from ``source`` (``models:/m-…``); MLflow's own ``model_id`` on the version is always None.
    logged_model = models.ForeignKey(
        LoggedModel,
        to_field="model_id",
        db_column="logged_model_id",
        db_constraint=False,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="versions",
    )
    status_message = models.TextField(blank=True)
    # When sync first mirrored this version (a number MLflow re-used gets a new row): see RegisteredModel.
    mirrored_since = models.DateTimeField(null=True, blank=True)
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

    @property
    def mirrored_logged_model(self):
        try:
            return self.logged_model
        except LoggedModel.DoesNotExist:
            return None

    @property
    def is_measured(self) -> bool:
        """Whether the version has a mirrored run or LoggedModel: its metrics and params are known."""
        return self.mirrored_run is not None or self.mirrored_logged_model is not None

    @property
    def is_ready(self) -> bool:
        return self.status in ("", READY)

    @property
    def metrics(self) -> dict:
        """What the version was measured at: its run's metrics, overlaid by its LoggedModel's (logged with
        ``model_id``, possibly outside any run)."""
        run, logged = self.mirrored_run, self.mirrored_logged_model
        return {**(run.metrics if run else {}), **(logged.metrics if logged else {})}

    @property
    def params(self) -> dict:
        run, logged = self.mirrored_run, self.mirrored_logged_model
        return {**(run.params if run else {}), **(logged.params if logged else {})}


class StageChangeQuerySet(models.QuerySet):
    def of_model(self, model: RegisteredModel):
        """This model's history: by name, without what an earlier model of the same name went through."""
        changes = self.filter(model_name=model.name)
        return changes.filter(seen_at__gte=model.mirrored_since) if model.mirrored_since else changes

    def of_version(self, version: ModelVersion):
        changes = self.filter(model_name=version.model.name, version=version.version)
        return changes.filter(seen_at__gte=version.mirrored_since) if version.mirrored_since else changes


class StageChange(models.Model):
    """A stage or alias change of one version, as seen by sync (MLflow keeps no such history).

    Kept by model *name* so the history survives the model's deletion from the mirror.
    Later apps (approvals) read these rows to detect out-of-band transitions.
    """

    KIND_STAGE = "stage"
    KIND_ALIAS = "alias"

    model_name = models.CharField(max_length=MODEL_NAME_LENGTH, db_index=True)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=[(KIND_STAGE, "stage"), (KIND_ALIAS, "alias")])
    alias = models.CharField(max_length=ALIAS_LENGTH, blank=True)
    from_value = models.CharField(max_length=ALIAS_LENGTH, blank=True)
    to_value = models.CharField(max_length=ALIAS_LENGTH, blank=True)
    mlflow_timestamp = models.DateTimeField(null=True)
    seen_at = models.DateTimeField(auto_now_add=True)
    sync_run = models.ForeignKey("SyncRun", null=True, on_delete=models.SET_NULL, related_name="changes")

    objects = StageChangeQuerySet.as_manager()

    class Meta:
        ordering = ["seen_at", "id"]

    def __str__(self):
        subject = f"alias {self.alias}" if self.kind == self.KIND_ALIAS else "stage"
        return f"{self.model_name} v{self.version} {subject}: {self.from_value or '-'} -> {self.to_value or '-'}"


class SyncRun(models.Model):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    STATUS_CHOICES = [(RUNNING, "running"), (SUCCEEDED, "succeeded"), (PARTIAL, "partial"), (FAILED, "failed")]
    RECONCILE = "reconcile"
    FAST = "fast"
    MODEL = "model"
    MODE_CHOICES = [(RECONCILE, "reconcile"), (FAST, "fast pass"), (MODEL, "one model")]

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=RUNNING)
    mode = models.CharField(max_length=10, choices=MODE_CHOICES, default=RECONCILE)
    model_name = models.CharField(max_length=MODEL_NAME_LENGTH, blank=True, help_text="empty: whole registry")
    full = models.BooleanField(default=False)
    trigger = models.CharField(max_length=40, default="command")
    counts = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    # model name -> error, for each model that failed alone (status ``partial``).
    failures = models.JSONField(default=dict)
    # The newest MLflow ``last_updated_timestamp`` (ms) this pass's lists showed, for models and for versions:
    # the next fast pass reads back to here (sync.watermarks).
    models_watermark = models.BigIntegerField(null=True, blank=True)
    versions_watermark = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"sync #{self.pk} {self.status}"

    @property
    def is_done(self):
        return self.status != self.RUNNING

    @property
    def covered_models(self) -> bool:
        """A finished sync that wrote what it read (all of it, or all but ``failures``)."""
        return self.status in (self.SUCCEEDED, self.PARTIAL)


class ModelRename(models.Model):
    """A registered model renamed in MLflow (``rename_registered_model``), recognised by sync.

    Old URLs redirect through these rows; the model's row (and everything linked to it) moved in place.
    """

    model = models.ForeignKey(RegisteredModel, null=True, on_delete=models.SET_NULL, related_name="renames")
    old_name = models.CharField(max_length=MODEL_NAME_LENGTH, db_index=True)
    new_name = models.CharField(max_length=MODEL_NAME_LENGTH)
    renamed_at = models.DateTimeField(auto_now_add=True)
    sync_run = models.ForeignKey(SyncRun, null=True, on_delete=models.SET_NULL, related_name="renames")

    class Meta:
        ordering = ["-renamed_at", "-id"]

    def __str__(self):
        return f"{self.old_name} -> {self.new_name}"


class WebhookDelivery(models.Model):
    """One MLflow webhook delivery accepted by ``POST /hooks/mlflow``: its id is kept to refuse replays."""

    delivery_id = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    entity = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64, blank=True)
    model_name = models.CharField(max_length=MODEL_NAME_LENGTH, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self):
        return f"{self.entity}.{self.action} {self.delivery_id}"
