"""The findings pages: reading (anyone signed in), acting (as access allows), bad input, XSS, filters, queries."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals.models import Policy
from audit.models import AuditEvent
from conftest import member
from findings import services
from findings.models import Finding
from registry_portal.roles import ML_LEADS
from tests.factories import file_request, make_model, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(owner):
    model = make_model("Churn", owner=owner)
    return make_version(model, 1), make_version(model, 2, stage="Staging")


@pytest.fixture
def finding(versions, lead, owner):
    return services.finding_open(
        actor=lead, version=versions[1], title="leaky feature", severity="high", owner=owner, description="see *x*"
    )


def detail(finding):
    return reverse("findings:finding_detail", args=[finding.pk])


def test_anyone_signed_in_reads_a_finding_but_only_those_access_lets_act(client, finding, outsider):
    assert client.get(detail(finding)).status_code == 302  # anonymous: to the sign-in page
    client.force_login(outsider)
    response = client.get(detail(finding))
    html = response.content.decode()
    assert response.status_code == 200 and "leaky feature" in html and "<em>x</em>" in html
    assert "Nothing you may do to this finding now." in html and '<form method="post" action="/findings/' not in html
    assert client.post(reverse("findings:finding_close", args=[finding.pk])).status_code == 403
    assert Finding.objects.get(pk=finding.pk).status == Finding.OPEN


def test_the_owner_remediates_and_may_not_close_a_reviewer_closes(client, finding, owner, reviewer_a):
    client.force_login(owner)
    html = client.get(detail(finding)).content.decode()
    assert "You cannot close it: you own finding" in html
    response = client.post(reverse("findings:finding_remediate", args=[finding.pk]), {"notes": "dropped it"})
    assert response.status_code == 302 and response["Location"] == detail(finding)
    assert "marked remediated" in client.get(detail(finding)).content.decode()  # the message, after the redirect
    refused = client.post(reverse("findings:finding_close", args=[finding.pk]))
    assert refused.status_code == 403
    assert "someone else (a reviewer or ML lead) must close it" in refused.content.decode()

    client.force_login(reviewer_a)
    assert client.post(reverse("findings:finding_close", args=[finding.pk])).status_code == 302
    finding.refresh_from_db()
    assert (finding.status, finding.remediation_notes) == (Finding.CLOSED, "dropped it")
    html = client.get(detail(finding)).content.decode()
    assert [e in html for e in ("olga-owner</strong> remediated", "rita-reviewer</strong> closed")] == [True, True]


def test_bad_input_is_a_form_error_with_400(client, finding, versions, owner, lead):
    client.force_login(owner)
    response = client.post(reverse("findings:finding_remediate", args=[finding.pk]), {"notes": ""})
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    client.force_login(lead)
    url = reverse("findings:finding_open", args=["Churn", 2])
    response = client.post(url, {"title": "x", "severity": "huge", "owner": "nobody-here"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Select a valid choice. huge is not one of the available choices." in html
    assert "no active user &#x27;nobody-here&#x27;" in html
    assert Finding.objects.count() == 1


def test_a_state_conflict_is_a_409_shown_on_the_page(client, finding, reviewer_a):
    client.force_login(reviewer_a)
    client.post(reverse("findings:finding_accept", args=[finding.pk]))
    response = client.post(reverse("findings:finding_close", args=[finding.pk]))
    assert response.status_code == 409 and "is already accepted" in response.content.decode()


def test_a_lead_opens_a_finding_from_the_version_page(client, versions, lead, owner):
    client.force_login(lead)
    page = client.get(versions[1].get_absolute_url()).content.decode()
    url = reverse("findings:finding_open", args=["Churn", 2])
    assert f'action="{url}"' in page and "No findings on this version." in page
    response = client.post(
        url,
        {
            "title": "bias",
            "severity": "critical",
            "category": "limitation",
            "owner": "olga-owner",
            "due_date": "2020-01-01",
        },
    )
    finding = Finding.objects.get()
    assert response.status_code == 302 and response["Location"] == detail(finding)
    assert (finding.opened_by, finding.owner, finding.severity, finding.version) == (
        lead,
        owner,
        "critical",
        versions[1],
    )
    page = client.get(versions[1].get_absolute_url()).content.decode()
    assert f'href="{detail(finding)}">#{finding.pk} bias</a>' in page and "overdue" in page


def test_markdown_in_a_description_is_sanitised(client, versions, lead, owner, outsider):
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)> [a](javascript:alert(3)) **bold**"
    finding = services.finding_open(
        actor=lead, version=versions[1], title="<b>t</b>", severity="low", owner=owner, description=evil
    )
    client.force_login(outsider)
    html = client.get(detail(finding)).content.decode()
    description = html.split('id="finding-description">')[1].split("</div>")[0]
    assert "<strong>bold</strong>" in description
    assert "<script" not in description and "onerror" not in description and "javascript:" not in description
    assert "&lt;b&gt;t&lt;/b&gt;" in html and "<b>t</b>" not in html


def test_the_owner_carries_unresolved_findings_over_to_a_newer_version(client, versions, finding, owner, lead):
    v3 = make_version(versions[0].model, 3)
    client.force_login(lead)
    assert "Carry over from" not in client.get(v3.get_absolute_url()).content.decode()  # owners only
    client.force_login(owner)
    assert "Carry over from v2" in client.get(v3.get_absolute_url()).content.decode()
    url = reverse("findings:finding_carry", args=["Churn", 3])
    response = client.post(url, {"from_version": 2, "finding_ids": [finding.pk]})
    assert response.status_code == 302
    carried = Finding.objects.get(version=v3)
    assert (carried.carried_from, carried.status, carried.title) == (finding, Finding.OPEN, "leaky feature")
    assert "Carry over from" not in client.get(v3.get_absolute_url()).content.decode()  # nothing left to carry
    assert client.post(url, {"from_version": 2, "finding_ids": [finding.pk]}).status_code == 400


@pytest.fixture
def many(versions, owner, lead, reviewer_a):
    other = make_version(make_model("Fraud", owner=owner), 1)
    past = timezone.localdate() - dt.timedelta(days=3)
    made = {}
    for name, version, severity, who, due in (
        ("a", versions[1], "low", owner, None),
        ("b", versions[1], "critical", reviewer_a, past),
        ("c", other, "high", owner, past),
        ("d", other, "medium", reviewer_a, None),
    ):
        made[name] = services.finding_open(
            actor=lead, version=version, title=f"finding {name}", severity=severity, owner=who, due_date=due
        )
    services.finding_close(actor=reviewer_a, finding_id=made["c"].pk)
    return made


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ({}, ["b", "c", "d", "a"]),
        ({"severity": "high"}, ["b", "c"]),
        ({"overdue": "on"}, ["b"]),  # c is past due but closed
        ({"owner": "olga-owner"}, ["c", "a"]),
        ({"status": "closed"}, ["c"]),
        ({"status": "unresolved", "model": "Fraud"}, ["d"]),
        ({"model": "Churn"}, ["b", "a"]),
    ],
)
def test_the_list_filters(client, many, outsider, query, titles):
    client.force_login(outsider)
    response = client.get(reverse("findings:finding_list"), query)
    assert response.status_code == 200
    assert [f.title[-1] for f in response.context["page"]] == titles


@pytest.mark.parametrize("query", [{"severity": "huge"}, {"owner": "nobody"}, {"status": "lost"}])
def test_an_invalid_filter_is_a_form_error_not_a_500(client, many, outsider, query):
    client.force_login(outsider)
    response = client.get(reverse("findings:finding_list"), query)
    assert response.status_code == 400 and 'class="error"' in response.content.decode()
    assert list(response.context["page"]) == []


def test_the_list_is_paginated(client, versions, lead, owner, outsider):
    for i in range(30):
        services.finding_open(actor=lead, version=versions[1], title=f"f{i}", severity="low", owner=owner)
    client.force_login(outsider)
    first = client.get(reverse("findings:finding_list"))
    assert len(first.context["page"]) == 25 and 'rel="next"' in first.content.decode()
    assert len(client.get(reverse("findings:finding_list"), {"page": 2}).context["page"]) == 5
    fragment = client.get(reverse("findings:finding_list"), {"page": 2}, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="results"')


@pytest.mark.parametrize("size", [1, 30])
def test_the_list_query_count_does_not_grow(client, versions, lead, owner, outsider, django_assert_num_queries, size):
    for i in range(size):
        services.finding_open(actor=lead, version=versions[1], title=f"f{i}", severity="low", owner=owner)
    client.force_login(outsider)
    # session, user, count, the page of findings (with owners); nav: Reviews badge, audit link; footer's last sync
    with django_assert_num_queries(7):
        assert client.get(reverse("findings:finding_list"), {"severity": "low"}).status_code == 200


def test_the_finding_page_query_count(client, finding, owner, reviewer_a, django_assert_num_queries):
    for _ in range(3):
        services.finding_remediate(actor=owner, finding_id=finding.pk, notes="fixed")
        services.finding_reopen(actor=reviewer_a, finding_id=finding.pk)
    client.force_login(reviewer_a)
    # session, user, the finding (+owner, opener, version, model, carried_from), its history, the access questions
    # (remediate: the model's owners; close, accept, reopen: the groups, one each), nav (2), footer
    with django_assert_num_queries(11):
        assert client.get(detail(finding)).status_code == 200


def test_the_request_page_marks_what_blocks_it(client, versions, lead, owner, reviewer_a):
    policy = Policy.objects.get(model_name="")
    policy.rules = {"Production": [{"type": "no_open_findings", "min_severity": "high"}]}
    policy.save()
    request = file_request(owner, versions[1])
    high = services.finding_open(actor=lead, version=versions[1], title="leak", severity="high", owner=owner)
    services.finding_open(actor=lead, version=versions[1], title="nit", severity="low", owner=owner)
    client.force_login(reviewer_a)
    html = client.get(request.get_absolute_url()).content.decode()
    section = html.split('id="request-findings"')[1].split("</section>")[0]
    assert "1 finding blocks this request" in section and "severity high or above" in section
    assert section.count('badge check-failed">blocks') == 1
    assert section.index(f"#{high.pk} leak") < section.index('badge check-failed">blocks')

    policy.rules = {"Production": [{"type": "required_approvals", "count": 2}]}
    policy.save()
    html = client.get(request.get_absolute_url()).content.decode()
    section = html.split('id="request-findings"')[1].split("</section>")[0]
    assert "has no findings rule" in section and "leak" in section and "nit" in section and ">blocks<" not in section


def test_history_shows_only_this_findings_events(client, finding, versions, lead, owner):
    services.finding_open(
        actor=member("lou-lead", ML_LEADS), version=versions[1], title="other", severity="low", owner=owner
    )
    client.force_login(owner)
    html = client.get(detail(finding)).content.decode()
    history = html.split('id="history-title"')[1]
    assert "lena-lead</strong> opened" in history and "lou-lead" not in history
    assert AuditEvent.objects.filter(action="finding.opened").count() == 2
