"""Two editors saving at the same moment, each in its own connection: one wins, the other gets a conflict."""

import threading

import pytest
from django.db import connection

from cards.models import CardRevision, ModelCard
from cards.selectors import card_revision_latest
from cards.services import EditConflict, card_revision_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(owner, admin_user, version, base_revision_id):
    barrier = threading.Barrier(2)
    outcomes = {}

    def edit(actor, text):
        try:
            barrier.wait()
            card_revision_create(
                actor=actor,
                version=version,
                changes={"limitations": text},
                base_revision_id=base_revision_id,
                summary=text,
            )
            outcomes[text] = "saved"
        except EditConflict:
            outcomes[text] = "conflict"
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=args) for args in ((owner, "olga"), (admin_user, "ada"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_simultaneous_saves_from_the_same_base_let_exactly_one_through(owner, admin_user, mirror):
    version = mirror.version()
    base = card_revision_create(
        actor=owner, version=version, changes={"factors": "x"}, base_revision_id=None, summary="0"
    )

    outcomes = race(owner, admin_user, version, base.pk)

    assert sorted(outcomes.values()) == ["conflict", "saved"]
    assert CardRevision.objects.count() == 2
    winner = next(text for text, outcome in outcomes.items() if outcome == "saved")
    assert card_revision_latest(version).sections["limitations"] == winner


def test_simultaneous_first_saves_create_one_card(owner, admin_user, mirror):
    version = mirror.version()

    outcomes = race(owner, admin_user, version, None)

    assert sorted(outcomes.values()) == ["conflict", "saved"]
    assert ModelCard.objects.count() == 1
    assert CardRevision.objects.count() == 1
