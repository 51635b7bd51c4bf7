import pytest


@pytest.fixture(autouse=True)
def _static_without_collectstatic(settings):
    """Pages render without ``collectstatic``: the manifest storage of production needs its output."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
