"""What a pack holds, for a version that went through the real flow (``governed``), and that it verifies."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent, TreeHead
from audit.services import PendingEvent, Target, record_many
from cards.profiles import get_profile
from cards.services import card_profile_change
from evidence import verify_evidence
from evidence.pack import build_pack

pytestmark = pytest.mark.django_db


def test_the_pack_holds_the_card_lineage_checks_requests_findings_waiver_stage_history_and_tags(governed):
    pack = json.loads(json.dumps(build_pack(governed["version"])))  # JSON-able, and read back as an auditor does
    assert pack["version"] == {**pack["version"], "model_name": "Churn", "version": 2, "stage": "Staging"}

    card = pack["card"]
    assert card["revision"] == 1 and card["revisions"][0]["author"] == "olga-owner"
    assert card["revisions"][0]["created_at"] and "# Model Card: Churn v2" in card["markdown"]
    assert card["json"]["model_details"]["name"] == "Churn"
    assert [point["key"] for point in card["profile_points"]] == [point.key for point in get_profile("default").points]
    assert not any("lifecycle" in point for point in card["profile_points"])  # the template generates nothing

    lineage = pack["lineage"]
    assert lineage["run"]["run_id"] == lineage["run_id"] and lineage["commit"] == "abc123"
    assert lineage["metrics"]["accuracy"] == 0.93

    by_status = {request["status"]: request for request in pack["requests"]}
    assert set(by_status) == {"rejected", "applied"}
    rejected, applied = by_status["rejected"], by_status["applied"]
    assert [(r["reviewer"], r["decision"], r["comment"]) for r in rejected["reviews"]] == [
        ("rita-reviewer", "reject", "not yet")
    ]
    assert [c["body"] for c in rejected["comments"]] == ["card is there now"]
    assert applied["reviews"][0]["decision"] == "approve" and isinstance(applied["reviews"][0]["stale"], bool)
    assert applied["applied_at"] and applied["to_stage"] == "Staging"

    assert {run["request_id"] for run in pack["check_runs"]} >= {rejected["id"], applied["id"]}
    assert all(
        run["rules"] and "evidence" in run["rules"][0] for run in pack["check_runs"] if run["status"] != "queued"
    )

    assert [(f["title"], f["severity"], f["owner"]) for f in pack["findings"]] == [
        ("recall drops on region north", "high", "olga-owner")
    ]
    assert [(w["rule_id"], w["status"], w["requested_by"]) for w in pack["waivers"]] == [
        ("accuracy", "pending", "olga-owner")
    ]
    assert ("None", "Staging", "portal") in [(c["from"], c["to"], c["origin"]) for c in pack["stage_history"]]
    assert pack["mlflow_tags"]["approval.request_id"] == str(applied["id"])
    assert pack["mlflow_tags"]["model_card.revision"] == "1"

    actions = [event["action"] for event in pack["audit"]["events"]]
    for action in ("card.revised", "request.created", "review.rejected", "request.applied", "finding.opened"):
        assert action in actions
    assert "waiver.requested" in actions
    stored = AuditEvent.objects.filter(model_name="Churn", version=2).count()
    assert pack["audit"]["event_count"] == len(actions) == stored
    assert verify_evidence.verify_pack(pack) == []


def test_a_head_that_covers_the_events_is_reused_and_one_that_does_not_is_published(governed):
    first = build_pack(governed["version"])["audit"]["tree_head"]
    assert first["published_for_this_pack"] and TreeHead.objects.count() == 1
    again = build_pack(governed["version"])["audit"]["tree_head"]
    assert not again["published_for_this_pack"] and again["size"] == first["size"]
    record_many(
        [PendingEvent("system:sync", "registry.version_updated", Target("model_version", "Churn/2", "Churn", 2), {})]
    )
    newer = build_pack(governed["version"])
    assert newer["audit"]["tree_head"]["size"] == first["size"] + 1
    assert verify_evidence.verify_pack(newer) == []


def test_the_pack_takes_a_fixed_number_of_queries_however_many_events(governed):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            build_pack(governed["version"])
        return len(captured)

    build_pack(governed["version"])  # the head exists now: both counts below reuse or publish alike
    few = queries()
    more = [
        PendingEvent(
            "system:sync", "registry.version_updated", Target("model_version", "Churn/2", "Churn", 2), {"n": n}
        )
        for n in range(60)
    ]
    record_many(more)
    build_pack(governed["version"])
    assert queries() == few


def test_an_annex_iv_card_maps_its_sections_to_the_nine_points_and_fills_the_lifecycle_point(governed, owner):
    card_profile_change(actor=owner, version=governed["version"], profile="eu_ai_act_annex_iv")
    points = json.loads(json.dumps(build_pack(governed["version"])))["card"]["profile_points"]
    assert [point["ref"] for point in points] == [f"Annex IV({n})" for n in range(1, 10)]
    generated = [point for point in points if "lifecycle" in point]
    assert len(generated) == 1 and generated[0]["sections"] == []
    lifecycle = generated[0]["lifecycle"]
    # since the version's last applied request, if it has one; the profile change is a revision after it
    assert [revision["number"] for revision in lifecycle["revisions"]][-1:] == [2]
    assert "Profile" in lifecycle["diff"]
