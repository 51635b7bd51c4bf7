"""What other apps' changes set off here, without them importing approvals (ARCHITECTURE.md)."""

from functools import partial

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from cards.models import CardRevision
from findings.models import Finding
from findings.signals import findings_changed
from registry.models import ModelVersion, RegisteredModel, SyncRun
from registry.signals import model_renamed, versions_removed
from registry_portal import roles

from . import services, tasks
from .models import TransitionRequest


@receiver(post_save, sender=SyncRun, dispatch_uid="approvals.after_sync")
def sync_finished(sender, instance: SyncRun, created: bool, update_fields=None, **kwargs):
    """Chain ``after_sync`` to every finished sync (the sync saves its status once, when it ends)."""
    if created or instance.status == SyncRun.RUNNING or (update_fields and "status" not in update_fields):
        return
    transaction.on_commit(lambda: tasks.after_sync.delay(instance.pk), robust=True)


@receiver(post_save, sender=CardRevision, dispatch_uid="approvals.card_revised")
def card_revised(sender, instance: CardRevision, created: bool, **kwargs):
    """A new revision changes the version's content digest: check the version again, once the card is saved.

    Nothing runs inside the card's transaction; ``robust``: a failure here is logged and never fails the save.
    """
    if created:
        transaction.on_commit(partial(_recheck_card_version, instance.card_id), robust=True)


def _recheck_card_version(card_id: int) -> None:
    version = ModelVersion.objects.select_related("model", "run", "logged_model").filter(card=card_id).first()
    if version is not None:
        latest = CardRevision.objects.filter(card=card_id).order_by("-id").first()
        if latest is not None:
            services.risk_tier_derive_from_card(model_name=version.model.name, sections=latest.sections)
        services.check_run_rerun(actor=roles.SYSTEM_WORKER, version=version)


@receiver(model_renamed, sender=RegisteredModel, dispatch_uid="approvals.model_renamed")
def follow_rename(sender, model, old_name: str, new_name: str, **kwargs):
    """In the sync's transaction: what approvals keeps by model name moves with a rename in MLflow."""
    services.model_rename_follow(old_name=old_name, new_name=new_name)


@receiver(versions_removed, sender=ModelVersion, dispatch_uid="approvals.versions_removed")
def close_requests_of_removed_versions(sender, model_name: str, versions: list[int], reason: str, **kwargs):
    """An open request for a version MLflow no longer has must never be applied to whatever re-uses its name
    and number: it is superseded, in the sync's transaction."""
    services.transition_requests_supersede_for_removed(model_name=model_name, versions=versions, reason=reason)


@receiver(findings_changed, sender=Finding, dispatch_uid="approvals.findings_changed")
def recheck_after_finding(sender, version, **kwargs):
    """A finding opened, changed or carried over (sent after commit): check the version again for its open
    request, so ``no_open_findings`` answers now (findings are not in the content digest)."""
    if TransitionRequest.objects.for_version(version).filter(status=TransitionRequest.PENDING).exists():
        services.check_run_rerun(actor=roles.SYSTEM_WORKER, version=version)
