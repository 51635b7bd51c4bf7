import pytest


@pytest.fixture
def client_in(client, reviewer):
    """A browser signed in as a reviewer: every signed-in user may read the registry."""
    client.force_login(reviewer)
    return client
