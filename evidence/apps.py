from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    """The evidence pack (docs/evidence.md): the top layer, reading every governed app; nothing imports it."""

    name = "evidence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import panels

        panels.register()
