"""Who may read which audit events. Views never query ``AuditEvent`` directly."""

from datetime import datetime, time, timedelta

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from registry_portal import roles

from .models import AuditEvent, TreeHead

LEADS_GROUP = roles.ML_LEADS


def can_view_whole_log(user) -> bool:
    """Superusers and ``ml-leads``; remembered on the user object so the nav link and the page share one query."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    if not hasattr(user, "_audit_whole_log"):
        user._audit_whole_log = user.groups.filter(name=LEADS_GROUP).exists()
    return user._audit_whole_log


def event_list_for_user(user, filters: dict | None):
    """The whole log, filtered and newest first; ``filters=None`` (a filter that did not validate) matches nothing."""
    if not can_view_whole_log(user):
        raise PermissionDenied("only ml-leads and admins may read the whole audit log")
    if filters is None:
        return AuditEvent.objects.none()
    events = AuditEvent.objects.order_by("-seq")
    if filters.get("model"):
        events = events.filter(model_name=filters["model"])
    if filters.get("version") is not None:
        events = events.filter(version=filters["version"])
    if filters.get("actor"):
        events = events.filter(actor=filters["actor"])
    if filters.get("action"):
        events = events.filter(action=filters["action"])
    if filters.get("date_from"):
        events = events.filter(created_at__gte=_start_of(filters["date_from"]))
    if filters.get("date_to"):
        events = events.filter(created_at__lt=_start_of(filters["date_to"] + timedelta(days=1)))
    return events


def _start_of(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def activity_for_user(user, model_name: str, version: int | None = None, limit: int = 20) -> list[AuditEvent]:
    """The latest events of a model (or one of its versions), for anyone who may see that model; one query."""
    # The registry decides who sees a model; resolved at run time because audit imports no app.
    visible = apps.get_model("registry", "RegisteredModel").objects.visible_to(user).values("name")
    events = AuditEvent.objects.filter(model_name=model_name, model_name__in=visible)
    if version is not None:
        events = events.filter(version=version)
    return list(events.order_by("-seq")[:limit])


def tree_heads():
    """Signed tree heads, newest (largest) first."""
    return TreeHead.objects.order_by("-size", "-timestamp")
