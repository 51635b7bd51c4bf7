from celery import shared_task

from .models import SyncRun
from .sync import sync_registry as run_sync


@shared_task(name="registry.tasks.sync_registry", ignore_result=True)
def sync_registry(model_name: str | None = None, full: bool = False, sync_run_id: int | None = None) -> None:
    """Beat runs this every SYNC_INTERVAL_SECONDS; "Sync now" queues it with a SyncRun already created."""
    sync_run = None
    if sync_run_id is not None:
        sync_run = SyncRun.objects.filter(pk=sync_run_id, status=SyncRun.RUNNING).first()
        if sync_run is None:
            return
    run_sync(model_name=model_name, full=full, trigger="task", sync_run=sync_run)
