from celery import shared_task

from .models import SyncRun
from .sync import sync_registry as run_sync


@shared_task(name="registry.tasks.sync_registry", ignore_result=True)
def sync_registry(
    model_name: str | None = None,
    full: bool = False,
    sync_run_id: int | None = None,
    mode: str | None = None,
    trigger: str = "task",
) -> None:
    """Beat runs the fast pass every SYNC_INTERVAL_SECONDS and the reconcile pass every
    RECONCILE_INTERVAL_SECONDS; "Sync now" queues a reconcile with a SyncRun already created; a webhook
    queues a sync of its one model."""
    sync_run = None
    if sync_run_id is not None:
        sync_run = SyncRun.objects.filter(pk=sync_run_id, status=SyncRun.RUNNING).first()
        if sync_run is None:
            return
    run_sync(model_name=model_name, full=full, trigger=trigger, sync_run=sync_run, mode=mode)
