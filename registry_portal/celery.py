import os

from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry_portal.settings")


class PortalTask(Task):
    def apply(self, *args, headers=None, **options):
        """In-process runs carry the request id in and give it back after (ops/logs.py says why): a queued task's
        records carry the id of the request that queued it either way."""
        from django_guid import get_guid, set_guid
        from django_guid.config import settings as guid_settings

        request_id = get_guid()
        if request_id:
            headers = {guid_settings.guid_header_name: request_id, **(headers or {})}
        try:
            return super().apply(*args, headers=headers, **options)
        finally:
            if request_id:
                set_guid(request_id)


app = Celery("registry_portal", task_cls=PortalTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def queue_task(name: str, *args, **options) -> None:
    """Queue the task registered as ``name`` without importing its module: tasks import services, so services
    never import tasks. In-process when ``CELERY_TASK_ALWAYS_EAGER`` (no broker), like ``.delay``; each app's
    ``AppConfig.ready`` imports its tasks module, so the name is registered in web processes too."""
    app.signature(name, args=args).apply_async(**options)
