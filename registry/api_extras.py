"""What other apps add to the API's version response, without ``registry`` importing them.

The counterpart of ``registry.panels`` for the API: ``approvals`` and ``cards`` register, in their
``AppConfig.ready()``, a key and a function ``(user, version) -> JSON-safe value`` (the open request, the
latest check run, the card revision and its completeness). ``GET /api/v1/models/{name}/versions/{version}``
answers them under ``extras[key]``; registering a key again replaces it. A function runs once a request,
with the version as ``registry.selectors.version_get_for_user`` returned it (``model``, ``run`` and
``logged_model`` loaded), and decides visibility itself, as the app's own selectors do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Extra = Callable[[Any, Any], Any]

_extras: dict[str, Extra] = {}


def register(key: str, extra: Extra) -> None:
    _extras[key] = extra


def unregister(key: str) -> None:
    _extras.pop(key, None)


def extras_for(user, version) -> dict[str, Any]:
    """Each registered key with its function's value for ``version``, in registration order."""
    return {key: extra(user, version) for key, extra in _extras.items()}
