import pytest

from conftest import member
from registry_portal.roles import REVIEWERS


@pytest.fixture
def reviewer(db):
    """The root conftest's reviewer under the name test_pages.py and test_panels.py still assert ("reviewer1");
    goes when they say ``reviewer.username``."""
    return member("reviewer1", REVIEWERS)


@pytest.fixture
def client_in(client, reviewer):
    """A browser signed in as a reviewer: every signed-in user may read the registry."""
    client.force_login(reviewer)
    return client
