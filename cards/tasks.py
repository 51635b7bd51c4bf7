from celery import shared_task

from registry.mlflow_client import MlflowError, MlflowUnavailable

from . import services
from .models import CardRevision

MAX_RETRIES = 6


@shared_task(
    bind=True,
    name="cards.tasks.publish_revision",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(MlflowUnavailable,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def publish_revision(self, revision_id: int) -> None:
    """Publish one card revision to MLflow; transient MLflow errors retry with backoff, then fail with the reason."""
    revision = CardRevision.objects.select_related("card").filter(pk=revision_id).first()
    if revision is None:
        return
    try:
        services.card_publish(revision=revision)
    except MlflowUnavailable as exc:
        attempts = self.request.retries + 1
        if self.request.retries >= self.max_retries:
            services.card_publication_fail(
                revision=revision, reason=f"MLflow unavailable after {attempts} attempts: {exc}"
            )
            return
        services.card_publication_note_error(revision=revision, reason=f"attempt {attempts} failed, retrying: {exc}")
        raise
    except MlflowError as exc:
        services.card_publication_fail(revision=revision, reason=f"MLflow refused: {exc}")
