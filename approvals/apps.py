from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import panels, receivers  # noqa: F401 - receivers connects the signal receivers

        panels.register()
