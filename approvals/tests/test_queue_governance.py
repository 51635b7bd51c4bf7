"""The review queue's governance section (waivers and re-certifications awaiting my attestation, overdue
re-certifications) and the request page's overdue re-certification warning."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.models import Attestation, Recertification, Waiver
from tests.factories import file_request

pytestmark = pytest.mark.django_db
QUEUE = "/approvals/queue/"


@pytest.fixture
def governance(mirror, owner, reviewer_b):
    """Churn v1 in Production with an overdue re-certification, a pending waiver on Churn v2, and Fraud v1's
    re-certification (not yet due) that reviewer B already attested."""
    churn1 = mirror.version("Churn", stage="Production")
    churn2 = mirror.version("Churn", stage="Staging")
    fraud1 = mirror.version("Fraud", stage="Production")
    now = timezone.now()
    overdue = Recertification.objects.create(
        version=churn1, model_name="Churn", version_number=1, due_at=now - timedelta(days=2), required_approvals=2
    )
    later = Recertification.objects.create(
        version=fraud1, model_name="Fraud", version_number=1, due_at=now + timedelta(days=5), required_approvals=2
    )
    Attestation.objects.create(recertification=later, reviewer=reviewer_b, decision="approve", content_digest="d")
    waiver = Waiver.objects.create(
        version=churn2,
        model_name="Churn",
        version_number=2,
        stage="Production",
        rule_id="accuracy",
        justification="soon",
        requested_by=owner,
        required_approvals=2,
        expires_at=now + timedelta(days=30),
    )
    return {"churn1": churn1, "churn2": churn2, "overdue": overdue, "later": later, "waiver": waiver}


def section(html: str) -> str:
    return html.split('id="awaiting-attestation"')[1].split("</section>")[0] if "awaiting-attestation" in html else ""


def test_a_reviewer_sees_what_awaits_their_attestation(client, governance, reviewer_a, reviewer_b):
    g = governance
    client.force_login(reviewer_a)
    mine = section(client.get(QUEUE).content.decode())
    for subject in (g["waiver"], g["overdue"], g["later"]):
        assert f'href="{subject.get_absolute_url()}"' in mine
    client.force_login(reviewer_b)  # attested Fraud's already
    mine = section(client.get(QUEUE).content.decode())
    assert f'href="{g["later"].get_absolute_url()}"' not in mine
    assert f'href="{g["waiver"].get_absolute_url()}"' in mine and "overdue" in mine


def test_the_requester_and_non_reviewers_have_nothing_to_attest_but_see_what_is_overdue(client, governance, owner):
    g = governance
    client.force_login(owner)
    html = client.get(QUEUE).content.decode()
    assert section(html) == ""
    banner = html.split('id="recertifications-overdue"')[1].split("</p>")[0]
    assert f'href="{g["overdue"].get_absolute_url()}"' in banner
    assert g["later"].get_absolute_url() not in banner
    Recertification.objects.filter(pk=g["overdue"].pk).update(status=Recertification.CERTIFIED)
    assert 'id="recertifications-overdue"' not in client.get(QUEUE).content.decode()


def test_a_tab_swap_leaves_the_section_out(client, governance, reviewer_a):
    client.force_login(reviewer_a)
    html = client.get(f"{QUEUE}?tab=open", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="queue-tab").content.decode()
    assert "awaiting-attestation" not in html and "recertifications-overdue" not in html


def test_the_request_page_of_a_production_version_warns_of_its_overdue_recertification(
    client, governance, owner, reviewer_a
):
    g = governance
    archive = file_request(owner, g["churn1"], to_stage="Archived")
    promote = file_request(owner, g["churn2"])
    client.force_login(reviewer_a)
    html = client.get(archive.get_absolute_url()).content.decode()
    warning = html.split('id="recertification-overdue"')[1].split("</p>")[0]
    assert "re-certification overdue" in warning and f'href="{g["overdue"].get_absolute_url()}"' in warning
    assert 'id="recertification-overdue"' not in client.get(promote.get_absolute_url()).content.decode()
    Recertification.objects.filter(pk=g["overdue"].pk).update(status=Recertification.REJECTED)
    assert "re-certification rejected" in client.get(archive.get_absolute_url()).content.decode()
    Recertification.objects.filter(pk=g["overdue"].pk).update(status=Recertification.CERTIFIED)
    assert 'id="recertification-overdue"' not in client.get(archive.get_absolute_url()).content.decode()
