"""The Standard Webhooks signature, one definition for both directions: MLflow signs the webhooks the portal
receives (``registry.webhooks``) this way, and the portal signs the ones it sends (``notifications``)."""

import base64
import hashlib
import hmac


def webhook_signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` with ``secret``."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
