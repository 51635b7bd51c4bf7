"""Risk tiers: one row per model (``model_name`` follows renames), set by ML leads or admins (docs/governance.md)."""

from django.conf import settings
from django.db import models


def allowed_tiers() -> tuple[int, ...]:
    """The tiers a model may have (setting ``RISK_TIERS``; default 1, 2, 3 with 1 the highest risk)."""
    return tuple(getattr(settings, "RISK_TIERS", (1, 2, 3)))


class ModelRiskTier(models.Model):
    MANUAL, CARD = "manual", "card"

    model_name = models.CharField(max_length=256, unique=True)
    tier = models.PositiveSmallIntegerField()
    source = models.CharField(max_length=10, choices=[(MANUAL, MANUAL), (CARD, CARD)], default=MANUAL)
    set_by = models.CharField(max_length=150, blank=True)
    set_at = models.DateTimeField(auto_now=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["model_name"]

    def __str__(self):
        return f"{self.model_name}: tier {self.tier} ({self.source})"

    def snapshot(self) -> dict:
        return {"tier": self.tier, "source": self.source, "reason": self.reason}
