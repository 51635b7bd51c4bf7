"""Model cards: one per model version, each save an immutable revision, each revision published to MLflow.

A card is keyed by the version's (model name, version, run id) *strings*, with a nullable link to the
mirror row. The mirror row disappears when MLflow deletes the version (or the whole model); the card
and its history stay, like ``registry.StageChange``. If the same (name, version, run) shows up in the
mirror again — a model restored or a mirror rebuilt — the card is found again and re-linked on its next
save; a different run under a reused name and number gets a card of its own. See docs/cards.md.
"""

from django.db import models
from django.db.models import Q, Subquery
from django.urls import reverse
from django.utils import timezone

from registry.models import ModelVersion, RegisteredModel

from .profiles import DEFAULT, PROFILE_CHOICES


class ImmutableRevision(Exception):
    pass


class ModelCardQuerySet(models.QuerySet):
    def for_version(self, version: ModelVersion):
        """The card linked to ``version``, or the orphan card left by an earlier mirror row of the same version."""
        if ModelVersion.model.is_cached(version):
            model_name = version.model.name
        else:
            model_name = Subquery(RegisteredModel.objects.filter(pk=version.model_id).values("name")[:1])
        return self.filter(
            Q(model_version_id=version.pk)
            | Q(
                model_version__isnull=True,
                model_name=model_name,
                version=version.version,
                run_id=version.run_id or "",
            )
        )


class ModelCard(models.Model):
    model_name = models.CharField(max_length=256)
    version = models.PositiveIntegerField()
    run_id = models.CharField(max_length=64, blank=True)
    model_version = models.OneToOneField(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="card"
    )
    created_at = models.DateTimeField(default=timezone.now)
    profile = models.CharField(
        max_length=40, choices=PROFILE_CHOICES, default=DEFAULT, help_text="the regulation profile the card follows"
    )

    objects = ModelCardQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["model_name", "version"])]

    def __str__(self):
        return f"card of {self.model_name} v{self.version}"

    def get_absolute_url(self):
        return reverse("cards:card_detail", args=[self.model_name, self.version])


class CardRevisionQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableRevision("card revisions are immutable")

    def delete(self):
        raise ImmutableRevision("card revisions are immutable")

    def latest_for(self, version: ModelVersion):
        """The latest revision of ``version``'s card, with its card and publication; one query."""
        return (
            self.filter(card__in=ModelCard.objects.for_version(version))
            .select_related("card", "publication")
            .order_by("-card_id", "-number")
            .first()
        )


class CardRevision(models.Model):
    """One saved state of a card's prose. Never changed after it is written: edits make new revisions."""

    card = models.ForeignKey(ModelCard, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()
    base_revision = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="what the author edited"
    )
    author = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    summary = models.CharField(max_length=200)
    sections = models.JSONField(default=dict, help_text="section key -> Markdown prose")
    # Derived from ``sections`` when written, so list pages can show completeness without parsing prose.
    complete = models.BooleanField(default=False)
    percent = models.PositiveSmallIntegerField(default=0)
    # The card's profile when this revision was saved: ``complete``/``percent`` are judged under it, and changing
    # the profile saves a revision, so the latest revision's profile is the card's.
    profile = models.CharField(max_length=40, choices=PROFILE_CHOICES, default=DEFAULT)

    objects = CardRevisionQuerySet.as_manager()

    class Meta:
        ordering = ["card", "-number"]
        constraints = [models.UniqueConstraint(fields=["card", "number"], name="card_revision_number_unique")]

    def __str__(self):
        return f"{self.card} r{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ImmutableRevision("card revisions are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRevision("card revisions are immutable")


class CardPublication(models.Model):
    """Where publishing one revision to MLflow stands (the revision itself never changes)."""

    PENDING = "pending"
    PUBLISHED = "published"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    STATUS_CHOICES = [
        (PENDING, "pending"),
        (PUBLISHED, "published"),
        (FAILED, "failed"),
        (SUPERSEDED, "superseded by a newer revision"),
    ]

    revision = models.OneToOneField(CardRevision, on_delete=models.PROTECT, related_name="publication")
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=PENDING, db_index=True)
    error = models.TextField(blank=True, help_text="why the last attempt failed")
    note = models.CharField(max_length=255, blank=True, help_text="e.g. tags only: the version has no run")
    attempts = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.revision} {self.status}"

    @property
    def is_done(self):
        return self.status != self.PENDING
