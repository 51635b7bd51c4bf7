"""Request ids in tasks that run in-process (no broker), as django-guid's Celery integration does for queued ones.

Queued tasks: django-guid's ``before_task_publish`` puts the request id in the message headers and its
``task_prerun`` sets it in the worker. In-process (``CELERY_TASK_ALWAYS_EAGER``) nothing is published, so its
``task_prerun`` finds no header and makes up a new id (and ``task_postrun`` clears it, under the request that
is still running). ``registry_portal.celery.PortalTask.apply`` passes the id in the eager request's headers and
gives it back afterwards; the receiver here, connected after django-guid's, sets it for the task's records.
"""

from celery.signals import task_prerun
from django_guid import set_guid
from django_guid.config import settings as guid_settings


def _eager_request_id(task=None, **kwargs):
    request = getattr(task, "request", None)
    if request is None or not request.is_eager:
        return
    request_id = (request.headers or {}).get(guid_settings.guid_header_name)
    if request_id:
        set_guid(request_id)


def connect_eager_request_ids() -> None:
    """Called from ``OpsConfig.ready``: ``ops`` comes after ``django_guid`` in INSTALLED_APPS, so this receiver
    runs after django-guid's own ``task_prerun``."""
    task_prerun.connect(_eager_request_id, weak=False, dispatch_uid="ops.eager_request_id")
