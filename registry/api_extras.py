"""What other apps add to the API's version and model responses, without ``registry`` importing them.

The counterpart of ``registry.panels`` for the API: ``approvals`` and ``cards`` register, in their
``AppConfig.ready()``, a key and a function ``(user, version) -> JSON-safe value`` (the open request, the
latest check run, the card revision and its completeness). ``GET /api/v1/models/{name}/versions/{version}``
answers them under ``extras[key]``; registering a key again replaces it. A function runs once a request,
with the version as ``registry.selectors.version_get_for_user`` returned it (``model``, ``run`` and
``logged_model`` loaded), and decides visibility itself, as the app's own selectors do.

``register_model`` does the same for ``GET /api/v1/models/{name}`` (``(user, model) -> value``, under the
model's ``extras``; approvals adds its risk tier). The model list carries none: one query per row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Extra = Callable[[Any, Any], Any]

_extras: dict[str, Extra] = {}
_model_extras: dict[str, Extra] = {}


def register(key: str, extra: Extra) -> None:
    _extras[key] = extra


def unregister(key: str) -> None:
    _extras.pop(key, None)


def register_model(key: str, extra: Extra) -> None:
    _model_extras[key] = extra


def unregister_model(key: str) -> None:
    _model_extras.pop(key, None)


def model_extras_for(user, model) -> dict[str, Any]:
    """Each key registered with ``register_model`` with its function's value for ``model``."""
    return {key: extra(user, model) for key, extra in _model_extras.items()}


def extras_for(user, version) -> dict[str, Any]:
    """Each registered key with its function's value for ``version``, in registration order."""
    return {key: extra(user, version) for key, extra in _extras.items()}
