from celery import shared_task

from . import tree


@shared_task(name="audit.tasks.publish_tree_head")
def publish_tree_head(force: bool = False) -> dict:
    """The beat schedule's signed tree head (``AUDIT_TREE_HEAD_INTERVAL_SECONDS``); a no-op when the log has not grown."""
    published = tree.publish_tree_head(force=force)
    return {**tree.head_json(published.head), "created": published.created}
