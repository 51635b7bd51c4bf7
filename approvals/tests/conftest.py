"""Personas and the mirror builder.

Rule tests build mirror rows directly (what a sync would have written), so each rule is tested on
exactly the facts it reads; the staleness and worker tests go through a real MLflow store and sync.
"""

import pytest
from django.contrib.auth.models import Group, User

from .helpers import Mirror


@pytest.fixture(autouse=True)
def static_files_without_manifest(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def owner(db):
    return User.objects.create_user("olga-owner")


@pytest.fixture
def reviewer(db):
    user = User.objects.create_user("rita-reviewer")
    user.groups.add(Group.objects.get_or_create(name="reviewers")[0])
    return user


@pytest.fixture
def outsider(db):
    return User.objects.create_user("otto-outsider")


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser("ada-admin")


@pytest.fixture
def mirror(db):
    return Mirror()
