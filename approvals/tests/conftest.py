import pytest

from tests.factories import complete_sections, write_card


@pytest.fixture
def ready(mirror):
    """Churn v2 in Staging (v1 in Production at accuracy 0.91) with accuracy 0.93, ``GOOD_TAGS``, a dataset and
    a complete card: it passes every rule of the default Production policy once its checks run."""
    mirror.version(stage="Production", metrics={"accuracy": 0.91})
    version = mirror.version(stage="Staging", metrics={"accuracy": 0.93})
    write_card(version, complete_sections())
    return version
