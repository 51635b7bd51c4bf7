"""Reads of governance data that depend on who asks."""

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404

from registry.models import ModelVersion, RegisteredModel

from .digest import version_content_digest
from .models import CheckResult, CheckRun
from .rules import STAGES
from .services import check_run_permitted, next_stage


def check_run_get_for_user(user, pk: int) -> CheckRun:
    """A check run of a version the user may see; runs of deleted versions stay readable by name."""
    visible = RegisteredModel.objects.visible_to(user).values("name")
    return get_object_or_404(
        CheckRun.objects.filter(model_name__in=visible).select_related("version__model", "version__run"), pk=pk
    )


def checks_panel(version: ModelVersion, user) -> dict:
    """What the version page's checklist shows: the latest run, its results, and whether it is stale."""
    latest = (
        CheckRun.objects.filter(version=version)
        .prefetch_related(Prefetch("results", queryset=CheckResult.objects.order_by("position")))
        .order_by("-id")
        .first()
    )
    return {
        "version": version,
        "check_run": latest,
        "results": list(latest.results.all()) if latest else [],
        "is_stale": bool(latest and latest.is_stale_against(version_content_digest(version))),
        "can_run": check_run_permitted(user, version),
        "stages": STAGES,
        "default_stage": latest.stage if latest else (next_stage(version) or "Production"),
    }
