from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import metrics, tasks  # noqa: F401 - registers the heartbeat task name and the task-outcome signals
        from .logs import connect_eager_request_ids

        connect_eager_request_ids()
