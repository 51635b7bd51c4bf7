from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    """The evidence pack (docs/evidence.md): the top layer, reading every app; nothing imports it."""

    name = "evidence"
    default_auto_field = "django.db.models.BigAutoField"
