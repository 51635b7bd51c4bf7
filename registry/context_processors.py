from .models import SyncRun


def last_sync(request):
    """The latest finished sync, lazily: pages that never show it cost no query."""

    def latest():
        return SyncRun.objects.exclude(status=SyncRun.RUNNING).order_by("-started_at", "-id").first()

    return {"last_sync": latest}
