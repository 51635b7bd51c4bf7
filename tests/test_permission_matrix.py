"""Every mutating view × every persona → the status the portal answers, and pages offer exactly what is allowed.

Written before issue 13 moved the permission checks into each app's ``access.py``; it pins who may do
what so the move cannot change it. Each case starts from the same world (built by ``world``) and POSTs
valid input, so a refusal can only come from the permission check. Tasks queued on commit never run
here (the test transaction never commits): the matrix is about the decision, not the work after it.
"""

from dataclasses import dataclass

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services import api_token_create
from approvals.models import Recertification, TransitionRequest, UnapprovedTransition, Waiver
from cards.models import CardPublication, CardRevision, ModelCard
from findings.models import Finding
from registry.models import ModelOwner, ModelVersion
from registry_portal.roles import REVIEWERS
from tests.factories import make_model, make_owner

PERSONAS = ("anonymous", "outsider", "owner", "reviewer_a", "reviewer_b", "lead", "admin")
OK = "ok"  # the action happened: a redirect back (or the fragment, for preview)


@dataclass
class World:
    users: dict
    open_request: TransitionRequest
    failed_request: TransitionRequest
    unapproved: UnapprovedTransition
    card_revision: CardRevision
    owners_token: ApiToken
    owner_row: ModelOwner
    waiver: Waiver | None = None
    recertification: Recertification | None = None
    finding: Finding | None = None  # open on v2, owned by the outsider (not the model's owner)
    remediated_finding: Finding | None = None


@pytest.fixture
def world(people, owner) -> World:
    # Owned in the portal by the owner; MLflow's owner tag names the outsider, which grants them nothing.
    model = make_model("churn", owner=owner, owner_tag="otto-outsider")
    versions = {
        number: ModelVersion.objects.create(model=model, version=number, stage=stage)
        for number, stage in ((1, "Production"), (2, "Staging"), (3, "None"), (4, "None"))
    }
    common = {"model_name": "churn", "justification": "better", "requested_by": owner, "required_approvals": 2}
    open_request = TransitionRequest.objects.create(
        version=versions[2], version_number=2, from_stage="Staging", to_stage="Production", **common
    )
    failed_request = TransitionRequest.objects.create(
        version=versions[3],
        version_number=3,
        from_stage="None",
        to_stage="Staging",
        status=TransitionRequest.FAILED,
        **common,
    )
    unapproved = UnapprovedTransition.objects.create(
        model_name="churn",
        version_number=1,
        kind="stage",
        from_value="Staging",
        to_value="Production",
        seen_at=timezone.now(),
    )
    card = ModelCard.objects.create(model_name="churn", version=4, model_version=versions[4])
    revision = CardRevision.objects.create(card=card, number=1, author=owner.username, summary="first", sections={})
    CardPublication.objects.create(revision=revision, status=CardPublication.FAILED, error="MLflow was down")
    token, _ = api_token_create(actor=owner, user=owner, name="pipeline")
    later = timezone.now() + timezone.timedelta(days=30)
    waiver = Waiver.objects.create(
        version=versions[2],
        model_name="churn",
        version_number=2,
        stage="Production",
        rule_id="accuracy",
        justification="soon",
        requested_by=owner,
        required_approvals=2,
        expires_at=later,
    )
    recert = Recertification.objects.create(
        version=versions[1], model_name="churn", version_number=1, due_at=later, required_approvals=2
    )
    on_v2 = {"version": versions[2], "model_name": "churn", "version_number": 2, "opened_by": people["lead"]}
    finding = Finding.objects.create(title="leak", severity="high", owner=people["outsider"], **on_v2)
    remediated = Finding.objects.create(
        title="drift", severity="medium", owner=owner, status=Finding.REMEDIATED, remediation_notes="fixed", **on_v2
    )
    return World(
        people,
        open_request,
        failed_request,
        unapproved,
        revision,
        token,
        model.owners.get(),
        waiver,
        recert,
        finding,
        remediated,
    )


def _actions(w: World) -> dict:
    """name → (url, POST data, who may): who is the set of personas the action is allowed for."""
    everyone = set(PERSONAS) - {"anonymous"}
    staff = {"reviewer_a", "reviewer_b", "lead", "admin"}  # reviewers, ML leads, admins
    return {
        "sync_now": (reverse("registry:sync_now"), {}, staff),
        "model_sync": (reverse("registry:model_sync", args=["churn"]), {}, staff | {"owner"}),
        "check_run_start": (
            reverse("approvals:check_run_start", args=["churn", 3]),
            {"stage": "Staging"},
            {"owner", "reviewer_a", "reviewer_b", "lead", "admin"},
        ),
        "request_create": (
            reverse("approvals:request_create", args=["churn", 4]),
            {"to_stage": "Staging", "justification": "it is better"},
            {"owner", "admin"},
        ),
        "review_approve": (
            reverse("approvals:review_submit", args=[w.open_request.pk]),
            {"decision": "approve", "comment": ""},
            {"reviewer_a", "reviewer_b"},
        ),
        "review_reject": (
            reverse("approvals:review_submit", args=[w.open_request.pk]),
            {"decision": "reject", "comment": "not yet"},
            {"reviewer_a", "reviewer_b"},
        ),
        "request_withdraw": (
            reverse("approvals:request_withdraw", args=[w.open_request.pk]),
            {},
            {"owner", "admin"},
        ),
        "request_retry": (reverse("approvals:request_retry", args=[w.failed_request.pk]), {}, {"admin"}),
        "request_comment": (
            reverse("approvals:request_comment", args=[w.open_request.pk]),
            {"body": "a thought"},
            staff | {"owner"},  # the owner is the requester here, and owns the model
        ),
        "unapproved_acknowledge": (
            reverse("approvals:unapproved_acknowledge", args=[w.unapproved.pk]),
            {},
            {"admin"},
        ),
        "card_section_edit": (
            reverse("cards:section_edit", args=["churn", 4, "intended_use"]),
            {"text": "Primary use: churn.", "summary": "use", "base_revision": w.card_revision.pk},
            {"owner", "admin"},
        ),
        "card_preview": (reverse("cards:preview", args=["churn", 4]), {"text": "*hi*"}, {"owner", "admin"}),
        "card_publish_again": (reverse("cards:publish_again", args=["churn", 4]), {}, {"owner", "admin"}),
        "card_profile_change": (
            reverse("cards:profile_change", args=["churn", 4]),
            {"profile": "eu_ai_act_annex_iv"},
            {"owner", "admin"},
        ),
        "token_create": (reverse("accounts:tokens"), {"name": "ci", "expires_in_days": ""}, everyone),
        # Another user's token is as good as absent on the page: 404, not 403 (see REFUSED_WITH).
        "token_revoke": (reverse("accounts:token_revoke", args=[w.owners_token.pk]), {}, {"owner"}),
        "role_member_add": (
            reverse("accounts:role_member_add"),
            {"user": "otto-outsider", "role": REVIEWERS},
            {"admin"},
        ),
        "role_member_remove": (
            reverse("accounts:role_member_remove"),
            {"user": "rita-reviewer", "role": REVIEWERS},
            {"admin"},
        ),
        "owner_add": (reverse("accounts:owner_add"), {"model": "churn", "user": "otto-outsider"}, {"admin"}),
        "owner_remove": (reverse("accounts:owner_remove", args=[w.owner_row.pk]), {}, {"admin"}),
        "waiver_create": (
            reverse("approvals:waiver_create", args=["churn", 3]),
            {
                "stage": "Production",
                "rule_id": "accuracy",
                "justification": "x",
                "expires_at": (timezone.now() + timezone.timedelta(days=9)).strftime("%Y-%m-%d %H:%M"),
            },
            {"owner", "admin"},
        ),
        "waiver_attest": (
            reverse("approvals:waiver_attest", args=[w.waiver.pk]),
            {"decision": "approve"},
            {"reviewer_a", "reviewer_b"},
        ),
        "waiver_withdraw": (reverse("approvals:waiver_withdraw", args=[w.waiver.pk]), {}, {"owner", "admin"}),
        "recertification_attest": (
            reverse("approvals:recertification_attest", args=[w.recertification.pk]),
            {"decision": "approve"},
            {"reviewer_a", "reviewer_b"},
        ),
        "risk_tier_set": (reverse("approvals:risk_tier_set", args=["churn"]), {"tier": "2"}, {"lead", "admin"}),
        "finding_open": (
            reverse("findings:finding_open", args=["churn", 3]),
            {"title": "bias", "severity": "high", "category": "limitation", "owner": "olga-owner"},
            staff,
        ),
        "finding_remediate": (
            reverse("findings:finding_remediate", args=[w.finding.pk]),
            {"notes": "dropped the feature"},
            {"outsider", "owner"},  # the finding's owner, the model's owners
        ),
        # A reviewer or ML lead other than the finding's owner; admins are neither.
        "finding_close": (
            reverse("findings:finding_close", args=[w.finding.pk]),
            {},
            {"reviewer_a", "reviewer_b", "lead"},
        ),
        "finding_accept": (
            reverse("findings:finding_accept", args=[w.finding.pk]),
            {},
            {"reviewer_a", "reviewer_b", "lead"},
        ),
        "finding_reopen": (reverse("findings:finding_reopen", args=[w.remediated_finding.pk]), {}, staff),
        "finding_carry": (
            reverse("findings:finding_carry", args=["churn", 3]),
            {"from_version": 2, "finding_ids": [w.finding.pk]},
            {"owner"},
        ),
    }


REFUSED_WITH = {"token_revoke": 404}


ACTIONS = (
    "sync_now",
    "model_sync",
    "check_run_start",
    "request_create",
    "review_approve",
    "review_reject",
    "request_withdraw",
    "request_retry",
    "request_comment",
    "unapproved_acknowledge",
    "card_section_edit",
    "card_preview",
    "card_publish_again",
    "card_profile_change",
    "token_create",
    "token_revoke",
    "role_member_add",
    "role_member_remove",
    "owner_add",
    "owner_remove",
    "waiver_create",
    "waiver_attest",
    "waiver_withdraw",
    "recertification_attest",
    "risk_tier_set",
    "finding_open",
    "finding_remediate",
    "finding_close",
    "finding_accept",
    "finding_reopen",
    "finding_carry",
)


def _sign_in(client, world: World, persona: str):
    if persona != "anonymous":
        client.force_login(world.users[persona])
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_mutating_view_answers_each_persona_as_pinned(client, world, action, persona):
    url, data, allowed = _actions(world)[action]
    assert set(_actions(world)) == set(ACTIONS)
    response = _sign_in(client, world, persona).post(url, data)
    if persona == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    elif persona in allowed:
        assert response.status_code in (200, 302), response.content[:500]
        if response.status_code == 302:
            assert not response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == REFUSED_WITH.get(action, 403), (response.status_code, response.content[:500])


def _offered(html: str, url: str) -> bool:
    return f'action="{url}"' in html or f'href="{url}"' in html


# page → the actions whose form or link that page carries when the persona may use it
PAGES = {
    "request_page_open": (
        lambda w: w.open_request.get_absolute_url(),
        ("review_approve", "request_withdraw", "request_comment"),
    ),
    "request_page_failed": (lambda w: w.failed_request.get_absolute_url(), ("request_retry",)),
    "checks_panel": (lambda w: reverse("approvals:version_checks", args=["churn", 3]), ("check_run_start",)),
    "request_form": (lambda w: reverse("approvals:request_create", args=["churn", 4]), ("request_create",)),
    "card_page": (
        lambda w: reverse("cards:card_detail", args=["churn", 4]),
        ("card_section_edit", "card_publish_again", "card_profile_change"),
    ),
    "model_page": (
        lambda w: reverse("registry:model_detail", args=["churn"]),
        ("unapproved_acknowledge", "model_sync", "owner_add", "risk_tier_set"),
    ),
    "model_list": (lambda w: reverse("registry:model_list"), ("sync_now",)),
    "finding_page": (
        lambda w: w.finding.get_absolute_url(),
        ("finding_remediate", "finding_close", "finding_accept"),
    ),
    "finding_page_remediated": (lambda w: w.remediated_finding.get_absolute_url(), ("finding_reopen",)),
    "version_page": (
        lambda w: reverse("registry:version_detail", args=["churn", 3]),
        ("finding_open", "finding_carry"),
    ),
    "roles_page": (
        lambda w: reverse("accounts:roles"),
        ("role_member_add", "role_member_remove", "owner_add", "owner_remove"),
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("persona", [p for p in PERSONAS if p != "anonymous"])
@pytest.mark.parametrize("page", PAGES)
def test_pages_offer_exactly_what_the_persona_may_do(client, world, page, persona):
    """The page can never offer what the service refuses, nor hide what it allows."""
    url_of, actions = PAGES[page]
    response = _sign_in(client, world, persona).get(url_of(world))
    html = response.content.decode()
    if response.status_code == 403:
        offered = {name: False for name in actions}
    else:
        assert response.status_code == 200, response.status_code
        offered = {name: _offered(html, _actions(world)[name][0]) for name in actions}
    expected = {name: persona in _actions(world)[name][2] for name in actions}
    assert offered == expected


# --- ownership: the portal's owners, not MLflow's tag (docs/roles.md) ---------------------------------------


@pytest.mark.django_db
def test_the_roles_page_is_for_admins_and_linked_from_their_nav_only(client, world):
    for persona in ("outsider", "owner", "reviewer_a", "lead", "admin"):
        client.force_login(world.users[persona])
        assert client.get(reverse("accounts:roles")).status_code == (200 if persona == "admin" else 403)
        nav = client.get(reverse("registry:model_list")).content.decode()
        assert (f'href="{reverse("accounts:roles")}"' in nav) == (persona == "admin")


@pytest.mark.django_db
def test_an_mlflow_owner_tag_grants_nothing(client, world):
    """The outsider is named by the model's MLflow ``owner`` tag: they may still do nothing an owner may."""
    outsider = world.users["outsider"]
    client.force_login(outsider)
    for name in ("request_create", "card_section_edit", "card_publish_again", "model_sync", "request_comment"):
        url, data, _ = _actions(world)[name]
        assert client.post(url, data).status_code == 403, name
    page = client.get(reverse("registry:model_detail", args=["churn"])).content.decode()
    assert "MLflow says: <strong>otto-outsider</strong>" in page
    assert 'action="/accounts/roles/owners/add/"' not in page  # only admins get "make owner"


@pytest.mark.django_db
@pytest.mark.parametrize("stage, excluded", [("Production", True), ("Archived", False)])
def test_an_owner_who_reviews_is_excluded_from_their_models_production_requests(
    client, world, reviewer_b, stage, excluded
):
    """reviewer_a owns churn through a group: by default the policy keeps owners from reviewing Production only."""
    from django.contrib.auth.models import Group

    team = Group.objects.create(name="churn-team")
    world.users["reviewer_a"].groups.add(team)
    make_owner("churn", team)
    request = world.open_request
    if stage != request.to_stage:
        TransitionRequest.objects.filter(pk=request.pk).update(to_stage=stage)
    client.force_login(world.users["reviewer_a"])
    url = reverse("approvals:review_submit", args=[request.pk])
    page = client.get(request.get_absolute_url()).content.decode()
    response = client.post(url, {"decision": "approve", "comment": ""})
    if excluded:
        assert response.status_code == 403
        assert "excludes the model&#x27;s owners from reviewing" in response.content.decode()
        assert f'action="{url}"' not in page and "excludes the model&#x27;s owners" in page
    else:
        assert response.status_code in (200, 302) and f'action="{url}"' in page
    # Another reviewer, who owns nothing, is never excluded.
    client.force_login(reviewer_b)
    assert f'action="{url}"' in client.get(request.get_absolute_url()).content.decode()


# --- reads: the evidence pack is for whoever may read the version page (docs/evidence.md) ---------------------


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_the_evidence_pack_is_read_by_whoever_reads_the_version_page(client, world, persona):
    page = reverse("registry:version_detail", args=["churn", 2])
    _sign_in(client, world, persona)
    expected = client.get(page).status_code
    assert expected == (302 if persona == "anonymous" else 200)
    for name in ("pack", "zip", "pdf"):
        response = client.get(reverse(f"evidence:{name}", args=["churn", 2]))
        assert response.status_code == expected, (name, response.status_code)
