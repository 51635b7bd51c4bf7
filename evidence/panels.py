"""What evidence adds to the version page, through ``registry.panels`` (``EvidenceConfig.ready`` calls
``register``): links to the version's evidence pack and its downloads. No query: the pack is built when opened."""

from registry import panels
from registry.panels import PageObjects, Panel


def evidence_links(objects: PageObjects) -> dict:
    return {"version": objects.version}


def register() -> None:
    panels.register(Panel("evidence.links", "version", "end", evidence_links, "evidence/panel.html"))
