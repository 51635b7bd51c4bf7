"""Personas and the mirror builder (the real Celery worker fixture ``live_worker`` lives in the root conftest).

Rule tests build mirror rows directly (what a sync would have written), so each rule is tested on
exactly the facts it reads; the staleness and worker tests go through a real MLflow store and sync.
"""

import pytest
from django.contrib.auth.models import Group, User

from .helpers import Mirror


@pytest.fixture
def owner(db):
    return User.objects.create_user("olga-owner")


@pytest.fixture
def reviewer(db):
    user = User.objects.create_user("rita-reviewer")
    user.groups.add(Group.objects.get_or_create(name="reviewers")[0])
    return user


@pytest.fixture
def mirror(db):
    return Mirror()
