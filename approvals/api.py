"""API v1 for governance: transition requests and reviews; mounted by ``registry_portal.api``."""

from ninja import Router

router = Router(tags=["approvals"])
