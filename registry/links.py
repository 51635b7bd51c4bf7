"""Deep links into MLflow's own UI; empty strings when ``MLFLOW_UI_URL`` is not set."""

from urllib.parse import quote

from django.conf import settings


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
