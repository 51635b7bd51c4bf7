import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry_portal.settings")

app = Celery("registry_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def queue_task(name: str, *args, **options) -> None:
    """Queue the task registered as ``name`` without importing its module: tasks import services, so services
    never import tasks. In-process when ``CELERY_TASK_ALWAYS_EAGER`` (no broker), like ``.delay``; each app's
    ``AppConfig.ready`` imports its tasks module, so the name is registered in web processes too."""
    app.signature(name, args=args).apply_async(**options)
