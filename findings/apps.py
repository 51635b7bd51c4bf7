from django.apps import AppConfig


class FindingsConfig(AppConfig):
    name = "findings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from registry import api_extras

        from . import api, panels

        panels.register()

        api_extras.register("findings", api.findings_extra)
