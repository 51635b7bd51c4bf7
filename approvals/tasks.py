"""Check runs happen in workers. Tasks take ids, re-fetch, and exit quietly when there is nothing to do."""

from celery import shared_task

from registry.models import SyncRun

from . import services


@shared_task(name="approvals.tasks.run_checks", ignore_result=True)
def run_checks(check_run_id: int) -> None:
    services.check_run_execute(check_run_id)


# A sync can change a checked version's content only by re-reading runs (metrics, params, tags and
# datasets of new or unfinished runs) or by updating versions (tags, run id); otherwise nothing to do.
CONTENT_COUNTS = ("runs_fetched", "versions_updated")


@shared_task(name="approvals.tasks.after_sync", ignore_result=True)
def after_sync(sync_run_id: int) -> None:
    """Chained after every sync (``receivers.sync_finished``): re-check versions whose content changed."""
    sync_run = SyncRun.objects.filter(pk=sync_run_id).exclude(status=SyncRun.RUNNING).first()
    if sync_run is None or not any(sync_run.counts.get(key) for key in CONTENT_COUNTS):
        return
    services.checks_after_sync(model_name=sync_run.model_name)


@shared_task(name="approvals.tasks.sweep_check_runs", ignore_result=True)
def sweep_check_runs() -> None:
    services.check_runs_sweep()
