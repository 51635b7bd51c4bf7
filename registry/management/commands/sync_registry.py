from django.core.management.base import BaseCommand, CommandError

from registry.models import SyncRun
from registry.sync import sync_registry


class Command(BaseCommand):
    help = "Mirror the MLflow Model Registry into the portal (reconcile by default; --fast: only what changed)."

    def add_arguments(self, parser):
        parser.add_argument("--model", help="sync only this registered model (its exact name)")
        parser.add_argument("--full", action="store_true", help="refresh every run, not only new or unfinished ones")
        parser.add_argument(
            "--fast", action="store_true", help="the fast pass: what changed since the watermark (no deletions)"
        )

    def handle(self, *args, model=None, full=False, fast=False, **options):
        mode = SyncRun.FAST if fast else None
        sync_run = sync_registry(model_name=model, full=full, trigger="command", mode=mode)
        counts = ", ".join(f"{k}={v}" for k, v in sorted(sync_run.counts.items())) or "no changes"
        if sync_run.status != sync_run.SUCCEEDED:
            raise CommandError(f"sync #{sync_run.pk} {sync_run.status}: {sync_run.error} ({counts})")
        self.stdout.write(self.style.SUCCESS(f"sync #{sync_run.pk} succeeded ({sync_run.mode}): {counts}"))
