"""Who may read ``/metrics``: a caller with the bearer token ``METRICS_TOKEN``, or from ``METRICS_ALLOWED_NETWORKS``.

With neither configured the endpoint does not exist (404, ``metrics_enabled``): counts of requests and backlogs
are not for the public internet by default.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings

from registry_portal.access import Refusal


def metrics_enabled() -> bool:
    return bool(settings.METRICS_TOKEN or settings.METRICS_ALLOWED_NETWORKS)


def metrics_refusal(*, remote_addr: str, authorization: str) -> Refusal | None:
    """``remote_addr`` is the peer's address (``REMOTE_ADDR``: put the scraper on a network the proxy does not
    front, or use the token); ``authorization`` the ``Authorization`` header, ``Bearer <token>``."""
    token = settings.METRICS_TOKEN
    scheme, _, presented = authorization.partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
        return None
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        address = None
    if address is not None and any(address in network for network in settings.METRICS_ALLOWED_NETWORKS):
        return None
    return Refusal("Metrics need the bearer token (METRICS_TOKEN) or an address in METRICS_ALLOWED_NETWORKS.")
