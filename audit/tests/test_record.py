import math

import pytest
from django.contrib.auth.models import Group
from django.db import transaction

from audit.models import AuditChainHead, AuditError, AuditEvent
from audit.services import (
    GENESIS_HASH,
    Target,
    UnknownAction,
    actor_name,
    anonymous_actor,
    compute_hash,
    record,
    verify_chain,
)

from .conftest import append

pytestmark = pytest.mark.django_db

TARGET = Target(type="registered_model", id="churn", model_name="churn")


def test_it_chains_each_event_to_the_previous_one():
    first = record(actor="system:sync", action="registry.model_created", target=TARGET, data={"owner": "alice"})
    second, third = append(2)

    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    stored = AuditEvent.objects.get(seq=1)
    assert compute_hash(GENESIS_HASH, stored) == first.hash
    assert AuditChainHead.objects.values_list("seq", "hash").get() == (3, third.hash)
    assert verify_chain().intact


def test_it_stores_data_as_the_database_reads_it_back_so_the_hash_still_matches():
    data = {"huge": 1e23, "nan": math.nan, "minus_zero": -0.0, "nul": "a\x00b", "small": 1.5e-7, "n": [1, 2.5]}
    record(actor="system:sync", action="registry.model_updated", target=TARGET, data=data)

    assert AuditEvent.objects.get().data == {
        "huge": 10**23,
        "nan": "nan",
        "minus_zero": 0.0,
        "nul": "a\ufffdb",
        "small": 1.5e-7,
        "n": [1, 2.5],
    }
    assert verify_chain().intact


def test_a_change_that_rolls_back_leaves_no_event():
    with pytest.raises(RuntimeError), transaction.atomic():
        Group.objects.create(name="reviewers")
        record(actor="system:worker", action="policy.changed", target=Target("policy", "1"), data={})
        raise RuntimeError("the change failed after its event was written")

    assert not Group.objects.filter(name="reviewers").exists()
    assert not AuditEvent.objects.exists()
    assert verify_chain().intact


def test_an_audit_write_that_fails_rolls_back_the_change():
    with pytest.raises(UnknownAction, match="policy.renamed"), transaction.atomic():
        Group.objects.create(name="reviewers")
        record(actor="system:worker", action="policy.renamed", target=Target("policy", "1"), data={})

    assert not Group.objects.filter(name="reviewers").exists()
    assert not AuditEvent.objects.exists()


def test_events_and_the_head_refuse_edits_in_python():
    event = record(actor="system:sync", action="registry.model_created", target=TARGET, data={})

    with pytest.raises(AuditError):
        event.save()
    with pytest.raises(AuditError):
        AuditEvent.objects.create(seq=2, created_at=event.created_at, actor="mallory", action="auth.login")
    with pytest.raises(AuditError):
        event.delete()
    with pytest.raises(AuditError):
        AuditEvent.objects.filter(seq=1).update(actor="mallory")
    with pytest.raises(AuditError):
        AuditEvent.objects.all().delete()
    head = AuditChainHead.objects.get()
    with pytest.raises(AuditError):
        head.save()
    with pytest.raises(AuditError):
        head.delete()
    with pytest.raises(AuditError):
        AuditChainHead.objects.update(seq=0)
    with pytest.raises(AuditError):
        AuditChainHead.objects.all().delete()
    assert AuditEvent.objects.get().actor == "system:sync"


def test_actors_are_users_named_systems_or_anonymous_claims(outsider):
    assert actor_name(outsider) == "otto-outsider"
    assert actor_name("system:worker") == "system:worker"
    assert anonymous_actor("bob\x00\n") == "anonymous:bob"
    assert len(anonymous_actor("x" * 500)) == 150
    with pytest.raises(ValueError, match="named actor"):
        actor_name("alice")
