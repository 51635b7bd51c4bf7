import json

from django.core.management.base import BaseCommand, CommandError

from audit import tree


class Command(BaseCommand):
    help = (
        "Grow the audit log's Merkle tree and sign a tree head over the whole log now (the beat schedule does it every "
        "AUDIT_TREE_HEAD_INTERVAL_SECONDS). Prints the head as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="sign a fresh head even if the log has not grown")

    def handle(self, *args, force=False, **options):
        try:
            published = tree.publish_tree_head(force=force)
        except tree.TreeError as exc:
            raise CommandError(f"{exc} (manage.py verify_audit says where the chain breaks)") from None
        self.stdout.write(json.dumps({**tree.head_json(published.head), "new": published.created}, indent=2))
