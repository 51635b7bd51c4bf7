from django.apps import AppConfig


class CardsConfig(AppConfig):
    name = "cards"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import panels, receivers  # noqa: F401 - receivers connects the signal receivers

        panels.register()

        from registry import api_extras

        from . import api

        api_extras.register("card", api.card_extra)
