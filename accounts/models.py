"""Personal API tokens: a pipeline acts as its user, through the same access functions as the pages."""

import datetime as dt
import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

SECRET_PREFIX = "rp_"  # noqa: S105 - marks a portal token (secret scanners can match it), not a secret
PREFIX_LENGTH = 8


def hash_secret(secret: str) -> str:
    """What is stored and looked up: the secret itself is shown once and never kept."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self, now=None):
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    # The secret's first characters, so its owner can tell tokens apart in lists and revoke one by it.
    prefix = models.CharField(max_length=PREFIX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_active(self) -> bool:
        return not self.is_revoked and not self.is_expired()

    @property
    def status(self) -> str:
        if self.is_revoked:
            return "revoked"
        return "expired" if self.is_expired() else "active"


class LoginFailureWindow(models.Model):
    """The failed sign-ins of one claimed username from one address in one fixed window of time: a counter, so the
    audit chain gets one ``auth.login_failed`` (the first failure), at most one ``auth.locked_out`` and one
    ``auth.login_failures`` (the exact count, once the window has closed; then the row goes) per row, never one event
    per guess."""

    username = models.CharField(max_length=150)
    address = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    failures = models.PositiveIntegerField(default=0)
    locked_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["username", "address", "window_start"], name="login_failure_window_once")
        ]
        indexes = [models.Index(fields=["address", "window_start"]), models.Index(fields=["window_start"])]

    def __str__(self):
        return f"{self.failures} failed sign-ins as {self.username!r} from {self.address} from {self.window_start}"

    @staticmethod
    def start_of(moment: dt.datetime) -> dt.datetime:
        """The start of the window ``moment`` falls in: windows of ``LOGIN_FAILURE_WINDOW_SECONDS``, from the epoch."""
        seconds = settings.LOGIN_FAILURE_WINDOW_SECONDS
        return dt.datetime.fromtimestamp(moment.timestamp() // seconds * seconds, tz=dt.UTC)

    @property
    def window_end(self) -> dt.datetime:
        return self.window_start + dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
