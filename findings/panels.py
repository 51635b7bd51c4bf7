"""What findings adds to the registry's pages, through ``registry.panels`` (``FindingsConfig.ready`` calls
``register``): on the version page its findings, the form to open one (for those ``access.open_refusal`` lets)
and the carry-over of an older version's findings for the model's owners; on the model page a link to the
model's findings (no query)."""

from __future__ import annotations

from registry import panels
from registry.panels import PageObjects, Panel

from . import selectors
from .forms import FindingOpenForm


def version_findings(objects: PageObjects) -> dict:
    context = selectors.version_panel(objects.user, objects.version)
    context["form"] = FindingOpenForm() if context["can_open"] else None
    return context


def model_findings(objects: PageObjects) -> dict:
    return {"model": objects.model}


def register() -> None:
    # After approvals' request, checks and governance panels (orders 0-20).
    panels.register(
        Panel("findings.version", "version", "top", version_findings, "findings/panels.html#version", order=30)
    )
    panels.register(Panel("findings.model", "model", "aside", model_findings, "findings/panels.html#model", order=30))
