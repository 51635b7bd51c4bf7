"""Check runs happen in workers. Tasks take ids, re-fetch, and exit quietly when there is nothing to do.

Thin: each calls a service. Services queue these by name (``registry_portal.celery.queue_task``), never importing
this module, so the two never import each other.
"""

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from registry.mlflow_client import MlflowError, MlflowUnavailable
from registry.models import SyncRun

from . import services


@shared_task(name="approvals.tasks.run_checks", ignore_result=True)
def run_checks(check_run_id: int) -> None:
    services.check_run_execute(check_run_id=check_run_id)


# A sync can change a checked version's content only by re-reading runs (metrics, params, tags and
# datasets of new or unfinished runs) or by updating versions (tags, run id); otherwise nothing to do.
CONTENT_COUNTS = ("runs_fetched", "versions_updated", "logged_models_stored")


@shared_task(name="approvals.tasks.after_sync", ignore_result=True)
def after_sync(sync_run_id: int) -> None:
    """Chained after every sync (``receivers.sync_finished``): flag stage/alias changes no request explains,
    supersede re-certifications of versions that left Production, and re-check versions whose content changed."""
    sync_run = SyncRun.objects.filter(pk=sync_run_id).exclude(status=SyncRun.RUNNING).first()
    if sync_run is None:
        return
    if sync_run.counts.get("stage_changes"):
        services.unapproved_transitions_detect(sync_run=sync_run)
    if sync_run.counts.get("stage_changes") or sync_run.counts.get("versions_deleted"):
        services.recertifications_supersede(model_name=sync_run.model_name or None)
    if any(sync_run.counts.get(key) for key in CONTENT_COUNTS):
        services.check_runs_rerun_stale(model_name=sync_run.model_name)


@shared_task(name="approvals.tasks.sweep_check_runs", ignore_result=True)
def sweep_check_runs() -> None:
    services.check_runs_sweep()


def retry_countdown(retries: int) -> int:
    """Exponential backoff with full jitter, capped (settings ``APPLY_RETRY_BACKOFF_*``)."""
    return get_exponential_backoff_interval(
        factor=settings.APPLY_RETRY_BACKOFF_SECONDS,
        retries=retries,
        maximum=settings.APPLY_RETRY_BACKOFF_MAX_SECONDS,
        full_jitter=True,
    )


@shared_task(bind=True, name="approvals.tasks.apply_transition", ignore_result=True, acks_late=True, max_retries=None)
def apply_transition(self, request_id: int, claim: str = "") -> None:
    """Push an approved transition to MLflow. Claims the request first (one winner); retries keep the claim.

    Transient MLflow errors retry with backoff; after ``APPLY_MAX_RETRIES`` (or on an error retrying
    cannot fix) the request is ``failed``. A claim that lapsed (this worker was presumed dead and the
    sweeper took the request back) makes this a no-op.
    """
    claim = claim or services.transition_request_claim(request_id=request_id)
    if not claim:
        return
    try:
        services.transition_request_apply(request_id=request_id, claim=claim)
    except MlflowUnavailable as exc:
        if self.request.retries >= settings.APPLY_MAX_RETRIES:
            services.transition_request_fail(
                request_id=request_id,
                claim=claim,
                error=f"MLflow unavailable after {self.request.retries + 1} attempts: {exc}",
            )
            return
        countdown = retry_countdown(self.request.retries)
        if services.transition_request_extend_lease(request_id=request_id, claim=claim, seconds=countdown):
            raise self.retry(kwargs={"request_id": request_id, "claim": claim}, countdown=countdown) from exc
    except MlflowError as exc:
        services.transition_request_fail(
            request_id=request_id, claim=claim, error=f"MLflow refused the transition: {exc}"
        )


@shared_task(name="approvals.tasks.sweep_transition_requests", ignore_result=True)
def sweep_transition_requests() -> None:
    """Also sweeps reverts (enforcement): the same lease and re-queue rules."""
    services.transition_requests_sweep()
    services.reverts_sweep()


@shared_task(bind=True, name="approvals.tasks.revert_unapproved", ignore_result=True, acks_late=True, max_retries=None)
def revert_unapproved(self, revert_id: int, claim: str = "") -> None:
    """Put back an unapproved Production change (``out_of_band: revert``), like ``apply_transition``."""
    claim = claim or services.revert_claim(revert_id=revert_id)
    if not claim:
        return
    try:
        services.revert_apply(revert_id=revert_id, claim=claim)
    except MlflowUnavailable as exc:
        if self.request.retries >= settings.APPLY_MAX_RETRIES:
            services.revert_fail(revert_id=revert_id, claim=claim, error=f"MLflow unavailable: {exc}")
            return
        countdown = retry_countdown(self.request.retries)
        if services.revert_extend_lease(revert_id=revert_id, claim=claim, seconds=countdown):
            raise self.retry(kwargs={"revert_id": revert_id, "claim": claim}, countdown=countdown) from exc
    except MlflowError as exc:
        services.revert_fail(revert_id=revert_id, claim=claim, error=f"MLflow refused the revert: {exc}")


@shared_task(name="approvals.tasks.expire_waivers", ignore_result=True)
def expire_waivers() -> None:
    services.waivers_expire()


@shared_task(name="approvals.tasks.open_recertifications", ignore_result=True)
def open_recertifications() -> None:
    services.recertifications_open()
