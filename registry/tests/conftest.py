import pytest


@pytest.fixture
def reviewer(django_user_model):
    return django_user_model.objects.create_user("reviewer1", password="pw-reviewer-1")


@pytest.fixture
def client_in(client, reviewer):
    """A browser signed in as a reviewer: every signed-in user may read the registry."""
    client.force_login(reviewer)
    return client
