from django.apps import AppConfig


class CardsConfig(AppConfig):
    name = "cards"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # receivers connects the signal receivers; tasks registers the task services queue by name
        # (``registry_portal.celery.queue_task``).
        from . import panels, receivers, tasks  # noqa: F401

        panels.register()

        from registry import api_extras

        from . import api

        api_extras.register("card", api.card_extra)
