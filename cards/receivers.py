"""What the mirror's changes set off in cards, without ``registry`` importing cards (ARCHITECTURE.md)."""

from django.dispatch import receiver

from registry.models import RegisteredModel
from registry.signals import model_renamed

from . import services


@receiver(model_renamed, sender=RegisteredModel, dispatch_uid="cards.model_renamed")
def follow_rename(sender, model, old_name: str, new_name: str, **kwargs):
    """Cards are keyed by the model's name beside their link: a rename in MLflow moves them with it."""
    services.cards_follow_rename(old_name=old_name, new_name=new_name)
