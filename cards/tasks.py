from celery import shared_task

from registry.mlflow_client import MlflowError, MlflowUnavailable

from . import services
from .models import CardRevision


@shared_task(
    bind=True,
    name="cards.tasks.publish_revision",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(MlflowUnavailable,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=6,
)
def publish_revision(self, revision_id: int) -> None:
    """Publish one card revision to MLflow; transient MLflow errors retry with backoff, then fail with the reason.

    Run in-process (no broker, ``task_always_eager``) a retry would block the request that saved the card
    and surface as an error after its commit, so there the first failure is final: "Publish again" retries.
    """
    revision = CardRevision.objects.select_related("card").filter(pk=revision_id).first()
    if revision is None:
        return
    try:
        services.card_publish(revision=revision)
    except MlflowUnavailable as exc:
        attempts = self.request.retries + 1
        if self.request.is_eager or self.request.retries >= self.max_retries:
            reason = f"MLflow unavailable after {attempts} attempt{'s' if attempts > 1 else ''}: {exc}"
            services.card_publication_fail(revision=revision, reason=reason)
            return
        services.card_publication_note_error(revision=revision, reason=f"attempt {attempts} failed, retrying: {exc}")
        raise
    except MlflowError as exc:
        services.card_publication_fail(revision=revision, reason=f"MLflow refused: {exc}")
