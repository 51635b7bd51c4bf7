"""The portal database a benchmark starts from: empty (dropped and created again), PostgreSQL or SQLite."""

import os
import secrets
from pathlib import Path


def fresh_database(url: str) -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        return
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{name}"')


def audit_portal(database_url: str, *, reuse: bool) -> None:
    """Django set up on ``database_url`` (emptied first unless ``reuse``), migrated, with an audit signing key:
    the audit benchmarks' portal (``merkle_bench``, ``evidence_bench``)."""
    if not reuse:
        fresh_database(database_url)
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry_portal.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # DEBUG is off: a key it accepts
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("AUDIT_SIGNING_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
