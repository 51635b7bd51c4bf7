"""API v1 for model cards; mounted by ``registry_portal.api``."""

from ninja import Router

router = Router(tags=["cards"])
