"""Audit event builders (the personas are the root conftest's)."""

from audit.services import PendingEvent, Target, record_many


def version_event(model: str, version: int, action: str = "registry.version_created", actor="system:sync", **data):
    return PendingEvent(
        actor, action, Target(type="model_version", id=f"{model}/{version}", model_name=model, version=version), data
    )


def append(count: int, model: str = "churn", **kwargs):
    """``count`` version events for ``model``, appended as one batch."""
    return record_many([version_event(model, n, **kwargs) for n in range(1, count + 1)])
