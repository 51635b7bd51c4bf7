"""Plain JSON over HTTP for MLflow's two registry list endpoints; no mlflow import.

``MlflowClient`` turns every response into protobuf (``ParseDict``) and then into entities: at
10,000 versions that is most of a sync's client CPU (docs/performance.md). The two calls a sync
makes on every pass are read here with ``requests`` and ``json`` instead:

    GET {base}/api/2.0/mlflow/registered-models/search   ?filter=&max_results=&order_by=&page_token=
    GET {base}/api/2.0/mlflow/model-versions/search      (same parameters)

(MLflow 3.17.2: ``mlflow/protos/model_registry.proto`` declares both as GET; the server's
``_get_request_message`` reads GET query parameters, ``order_by`` repeated. The handlers cap
``max_results`` at 1,000 for models and 200,000 for versions; proto defaults 100 and 200,000.
Responses: ``{"registered_models": [...], "next_page_token": "..."}`` and
``{"model_versions": [...], "next_page_token": "..."}``, a key left out when empty or unset;
int64 timestamps are JSON numbers, ``version`` and alias targets strings, tags
``[{"key", "value"}]`` and aliases ``[{"alias", "version"}]``.)

Each row is a plain dict with exactly the fields and defaults ``registry.mlflow_client`` gives
``ModelData`` / ``VersionData`` from ``MlflowClient`` entities (plus ``status_message`` on
versions), so that ``ModelData(**row)`` works; a field missing from the JSON gets the value
MLflow's own proto parsing would give it (an unset timestamp is 0, i.e. 1970-01-01 UTC; an unset
status is ``PENDING_REGISTRATION``; an unset stage ``"None"``). Prompts are left out of the models list
and the ``mlflow.prompt.is_prompt`` tag is hidden from model tags, as MlflowClient does both.

Authentication as MLflow's client does it: ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` (or
``~/.mlflow/credentials``) as HTTP basic, else ``MLFLOW_TRACKING_TOKEN`` as a bearer token;
``MLFLOW_TRACKING_INSECURE_TLS``, ``MLFLOW_TRACKING_SERVER_CERT_PATH``,
``MLFLOW_TRACKING_CLIENT_CERT_PATH``, ``MLFLOW_WORKSPACE``. Plugin auth (``MLFLOW_TRACKING_AUTH``,
``MLFLOW_TRACKING_AWS_SIGV4``) and Databricks are not supported: ``supported(uri)`` says whether
this reader can stand in for ``MlflowClient``.

One attempt per call, no retries. Errors: ``RestUnavailable`` (connection error, timeout, 5xx,
429, a transient MLflow error code, a body that is not MLflow's JSON) or ``RestRequestError``
(any other 4xx, with MLflow's ``error_code`` and ``message``).
"""

from __future__ import annotations

import base64
import configparser
import datetime as dt
import json
import os
import threading
from collections.abc import Callable, Iterator
from typing import NamedTuple

import requests

MODELS_PATH = "/api/2.0/mlflow/registered-models/search"
VERSIONS_PATH = "/api/2.0/mlflow/model-versions/search"
MAX_MODELS_PAGE = 1_000  # the server refuses more (handlers._search_registered_models)
MAX_VERSIONS_PAGE = 200_000  # (handlers._search_model_versions)
DEFAULT_VERSIONS_PAGE = 10_000
PROMPT_TAG = "mlflow.prompt.is_prompt"
TRANSIENT_CODES = {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "ABORTED"}
_EPOCH = dt.datetime.fromtimestamp(0, tz=dt.UTC)


class RestError(Exception):
    """Base of the two errors below."""

    def __init__(self, message: str, *, status: int | None = None, error_code: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code


class RestUnavailable(RestError):
    """MLflow could not be reached, timed out, or failed on its side (5xx, 429): retrying may help."""


class RestRequestError(RestError):
    """MLflow refused the request (4xx: bad filter, bad max_results, unauthorised, ...)."""


class Page(NamedTuple):
    items: list[dict]
    token: str | None


# ---- the two endpoints ---------------------------------------------------------------------
def search_registered_models(
    base_url: str,
    *,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    max_results: int = MAX_MODELS_PAGE,
    page_token: str | None = None,
    timeout: float | None = None,
) -> Page:
    """One page of ``registered-models/search``: ModelData-shaped dicts and the next page token.

    Prompts (registered models tagged ``mlflow.prompt.is_prompt``) are left out as MlflowClient leaves
    them out: it appends ``tag.`mlflow.prompt.is_prompt` != 'true'`` to the filter
    (``mlflow.prompt.registry_utils.add_prompt_filter_string``) unless the filter names that tag. MLflow's
    SQL store excludes them on its own as well, on both endpoints.
    """
    body = _get(base_url, MODELS_PATH, without_prompts(filter_string), order_by, max_results, page_token, timeout)
    return Page([model_row(m) for m in body.get("registered_models") or ()], body.get("next_page_token") or None)


def search_model_versions(
    base_url: str,
    *,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    max_results: int = DEFAULT_VERSIONS_PAGE,
    page_token: str | None = None,
    timeout: float | None = None,
) -> Page:
    """One page of ``model-versions/search``: VersionData-shaped dicts and the next page token.

    As with ``MlflowClient``, every version's aliases are empty here (mlflow#16734), so rows carry
    none: read them from ``search_registered_models``.
    """
    body = _get(base_url, VERSIONS_PATH, filter_string, order_by, max_results, page_token, timeout)
    return Page([version_row(v) for v in body.get("model_versions") or ()], body.get("next_page_token") or None)


def without_prompts(filter_string: str | None) -> str:
    """MlflowClient's filter for ``search_registered_models`` (3.17.2), byte for byte."""
    if PROMPT_TAG in (filter_string or ""):
        return filter_string
    prompt_filter = f"tag.`{PROMPT_TAG}` != 'true'"
    return f"{filter_string} AND {prompt_filter}" if filter_string else prompt_filter


def pages(search: Callable[..., Page], base_url: str, **kwargs) -> Iterator[Page]:
    """Every page of ``search`` (one of the two functions above), one HTTP call each."""
    token = kwargs.pop("page_token", None)
    while True:
        page = search(base_url, page_token=token, **kwargs)
        yield page
        token = page.token
        if not token:
            return


def supported(tracking_uri: str) -> bool:
    """Whether this reader can replace MlflowClient's reads for ``tracking_uri``."""
    if not tracking_uri.lower().startswith(("http://", "https://")):
        return False
    return not (os.environ.get("MLFLOW_TRACKING_AUTH") or _env_bool("MLFLOW_TRACKING_AWS_SIGV4"))


# ---- normalisation: exactly what registry.mlflow_client does with MlflowClient's entities ------
def model_row(m: dict) -> dict:
    return {
        "name": m.get("name", ""),
        "description": m.get("description") or "",
        # RegisteredModel.tags hides the prompt marker tag ("not user-facing"), whatever its value.
        "tags": {t.get("key", ""): t.get("value", "") for t in m.get("tags") or () if t.get("key") != PROMPT_TAG},
        "aliases": {a.get("alias", ""): int(a.get("version", "")) for a in m.get("aliases") or ()},
        "created_at": _datetime(m.get("creation_timestamp")),
        "updated_at": _datetime(m.get("last_updated_timestamp")),
    }


def version_row(v: dict) -> dict:
    return {
        "name": v.get("name", ""),
        "version": int(v.get("version", "")),
        "stage": v.get("current_stage") or "None",
        "status": v.get("status") or "PENDING_REGISTRATION",  # the proto enum's default
        "status_message": v.get("status_message") or "",
        "run_id": v.get("run_id") or "",
        "source": v.get("source") or "",
        "description": v.get("description") or "",
        "tags": {t.get("key", ""): t.get("value", "") for t in v.get("tags") or ()},
        "created_at": _datetime(v.get("creation_timestamp")),
        "updated_at": _datetime(v.get("last_updated_timestamp")),
    }


def _datetime(ms) -> dt.datetime:
    # MlflowClient's entities hold the proto's 0 for an unset timestamp; mlflow_client.to_datetime(0) is the epoch.
    if not ms:
        return _EPOCH
    return dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.UTC)


# ---- HTTP --------------------------------------------------------------------------------
_local = threading.local()


def _session() -> requests.Session:
    """One keep-alive session per thread (requests sessions are not thread-safe)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def _get(base_url, path, filter_string, order_by, max_results, page_token, timeout) -> dict:
    params: dict = {"max_results": int(max_results)}
    if filter_string:
        params["filter"] = filter_string
    if order_by:
        params["order_by"] = list(order_by)  # requests repeats the key: order_by=a&order_by=b
    if page_token:
        params["page_token"] = page_token
    url = base_url.rstrip("/") + path
    verify, cert = _tls()
    try:
        response = _session().get(
            url,
            params=params,
            headers=_headers(),
            timeout=_timeout(timeout),
            verify=verify,
            cert=cert,
            allow_redirects=True,
        )
    except requests.Timeout as exc:
        raise RestUnavailable(f"GET {path} timed out: {exc}") from exc
    except (requests.ConnectionError, OSError) as exc:
        raise RestUnavailable(f"GET {path} could not connect: {exc}") from exc
    except requests.RequestException as exc:
        raise RestUnavailable(f"GET {path} failed: {exc}") from exc
    return _body(response, path)


def _body(response: requests.Response, path: str) -> dict:
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    status = response.status_code
    if status == 200:
        if not isinstance(body, dict):
            raise RestUnavailable(
                f"GET {path} answered 200 with a body that is not a JSON object: {_snippet(response)}", status=status
            )
        return body
    code = message = ""
    if isinstance(body, dict):
        code = str(body.get("error_code") or "")
        message = str(body.get("message") or "")
    text = f"GET {path} failed with HTTP {status}" + (f" {code}" if code else "") + f": {message or _snippet(response)}"
    if status >= 500 or status == 429 or code in TRANSIENT_CODES:
        raise RestUnavailable(text, status=status, error_code=code)
    raise RestRequestError(text, status=status, error_code=code)


def _snippet(response: requests.Response, limit: int = 300) -> str:
    text = " ".join(response.text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _timeout(timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    try:
        from django.conf import settings

        return float(settings.MLFLOW_HTTP_REQUEST_TIMEOUT)
    except Exception:  # noqa: BLE001 - Django not configured: MLflow's own variable, then its default
        return float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT") or 120)


def _env_bool(name: str) -> bool:
    return (os.environ.get(name) or "").strip().lower() in ("true", "1")


def _credentials() -> tuple[str | None, str | None]:
    """MLflow's order: the environment first, then ``~/.mlflow/credentials`` ([mlflow] section)."""
    username = os.environ.get("MLFLOW_TRACKING_USERNAME") or None
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD") or None
    if username and password:
        return username, password
    path = os.path.expanduser("~/.mlflow/credentials")
    if os.path.exists(path):
        config = configparser.ConfigParser()
        config.read(path)
        if "mlflow" in config:
            username = username or config["mlflow"].get("mlflow_tracking_username")
            password = password or config["mlflow"].get("mlflow_tracking_password")
    return username, password


def _headers() -> dict:
    headers = {"Accept": "application/json"}
    username, password = _credentials()
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if username and password:
        headers["Authorization"] = "Basic " + base64.standard_b64encode(f"{username}:{password}".encode()).decode()
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    workspace = (os.environ.get("MLFLOW_WORKSPACE") or "").strip()
    if workspace:
        headers["X-MLFLOW-WORKSPACE"] = workspace
    return headers


def _tls() -> tuple[bool | str, str | None]:
    """``verify`` and ``cert`` for requests, as MLflow's ``http_request`` computes them."""
    if _env_bool("MLFLOW_TRACKING_INSECURE_TLS"):
        verify: bool | str = False
    else:
        verify = os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or True
    return verify, os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH") or None
