"""Links the pages build: deep links into MLflow's own UI (empty strings when ``MLFLOW_UI_URL`` is not set),
and portal links for values that may not fit a URL (empty strings then: the value is shown as text)."""

from urllib.parse import quote

from django.conf import settings
from django.urls import NoReverseMatch, reverse


class ModelUrls:
    """The model page and version page URLs of one model from a single ``reverse()``: pages that link
    hundreds of versions (the chart, the versions table, the model list) would otherwise spend ~50 µs
    per link resolving the same pattern. Version pages live under the model page (``registry/urls.py``)."""

    def __init__(self, model_name: str):
        self._version_head = reverse("registry:version_detail", args=[model_name, 0]).removesuffix("0/")
        self.model = self._version_head.removesuffix("versions/")

    def version(self, number: int) -> str:
        return f"{self._version_head}{int(number)}/"


def _reverse_or_empty(view_name: str, value: str) -> str:
    try:
        return reverse(view_name, args=[value])
    except NoReverseMatch:
        return ""


def dataset_url(digest: str) -> str:
    """The dataset page of ``digest``, or "" when the digest cannot be a URL segment (empty, or holding a
    ``/``: MLflow stores whatever string a client sends): such digests are shown as text."""
    return _reverse_or_empty("registry:dataset_detail", digest)


def commit_url(git_commit: str) -> str:
    """The commit page of ``Run.git_commit``, or "" when the run has no hex commit (``Run.commit`` may
    still hold a value such as ``1a2b3c4d-dirty``: shown as text)."""
    return _reverse_or_empty("registry:commit_detail", git_commit)


def _base() -> str:
    return getattr(settings, "MLFLOW_UI_URL", "").rstrip("/")


def mlflow_model_url(name: str) -> str:
    base = _base()
    return f"{base}/#/models/{quote(name, safe='')}" if base else ""


def mlflow_version_url(name: str, version: int) -> str:
    base = _base()
    return f"{base}/#/models/{quote(name, safe='')}/versions/{int(version)}" if base else ""


def mlflow_run_url(experiment_id: str, run_id: str) -> str:
    base = _base()
    if not (base and experiment_id and run_id):
        return ""
    return f"{base}/#/experiments/{quote(str(experiment_id), safe='')}/runs/{quote(run_id, safe='')}"


def mlflow_experiment_url(experiment_id: str) -> str:
    base = _base()
    return f"{base}/#/experiments/{quote(str(experiment_id), safe='')}" if base and experiment_id else ""
