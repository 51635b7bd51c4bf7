"""Probes and the scrape: no session, no CSRF, no login; nothing in a body that a stranger should not read."""

from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from . import access, metrics, readiness


@never_cache
@require_GET
def healthz(request):
    """The process answers: no database, no dependency (a liveness probe restarts only what this fails)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    results = readiness.run_checks()
    failing = [name for name, result in results.items() if result.status == readiness.FAIL]
    body = {
        "status": "unavailable" if failing else "ok",
        "failing": failing,
        "checks": {name: result.as_json() for name, result in results.items()},
    }
    return JsonResponse(body, status=503 if failing else 200)


@never_cache
@require_GET
def metrics_view(request):
    if not access.metrics_enabled():
        raise Http404("metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS")
    refusal = access.metrics_refusal(
        remote_addr=request.META.get("REMOTE_ADDR", ""), authorization=request.headers.get("Authorization", "")
    )
    if refusal is not None:
        return HttpResponse(refusal.message, status=refusal.status, content_type="text/plain")
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
