"""``manage.py adopt_owner_tags [--model NAME ...] [--dry-run]``: make MLflow's ``owner`` tag a portal owner.

The migration to portal-assigned owners trusts no tag: every model starts with no owner (docs/roles.md,
"Upgrading"). An operator who has checked the tags may adopt them here: for each model whose tag names an existing
user who does not own it yet, that user becomes an owner, one ``registry.owner_added`` event each (actor
``system:command-line``, ``via: adopt_owner_tags``). Tags naming no user are listed and skipped.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from registry import services
from registry.models import RegisteredModel
from registry_portal.roles import SYSTEM_COMMAND_LINE


class Command(BaseCommand):
    help = "Make each model's MLflow owner tag (a user name) one of its portal owners; audited."

    def add_arguments(self, parser):
        parser.add_argument("--model", action="append", default=[], help="only this model (repeatable)")
        parser.add_argument("--dry-run", action="store_true", help="say what would be adopted, change nothing")

    def handle(self, *args, model, dry_run, **options):
        models = RegisteredModel.objects.exclude(owner_tag="").prefetch_related("owners").order_by("name")
        if model:
            models = models.filter(name__in=model)
        users = {u.get_username(): u for u in get_user_model().objects.filter(username__in=models.values("owner_tag"))}
        adopted = 0
        for row in models:
            user = users.get(row.owner_tag)
            if user is None:
                self.stdout.write(f"skipped {row.name}: its owner tag {row.owner_tag!r} names no user")
                continue
            if any(owner.user_id == user.pk for owner in row.owners.all()):
                continue
            if not dry_run:
                services.model_owner_add(actor=SYSTEM_COMMAND_LINE, model=row, user=user, via="adopt_owner_tags")
            adopted += 1
            self.stdout.write(f"{'would adopt' if dry_run else 'adopted'} {row.owner_tag} as an owner of {row.name}")
        self.stdout.write(
            self.style.SUCCESS(f"{adopted} owner{'s' if adopted != 1 else ''} {'to adopt' if dry_run else 'adopted'}")
        )
