"""The reviewer queue (waiting for me / all open / recently decided) and the nav badge."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from approvals import selectors, services
from approvals.models import TransitionRequest
from registry_portal.roles import REVIEWERS
from tests.factories import complete_sections, file_request, write_card

pytestmark = pytest.mark.django_db
QUEUE = "/approvals/queue/"


@pytest.fixture
def versions(mirror):
    """Staging versions of three models, each with a check run (requests always have one)."""
    return [mirror.version(name, stage="Staging") for name in ("Churn", "Fraud", "Ranker")]


def tab_rows(html: str) -> int:
    return html.count('<th scope="row"><a href="/approvals/requests/')


def test_the_queue_url_is_named():
    assert reverse("approvals:queue") == QUEUE


class TestWaitingForMe:
    def test_pending_requests_a_reviewer_has_not_reviewed_wait(self, client, owner, reviewer, versions):
        churn, fraud, ranker = (file_request(owner, v) for v in versions)
        services.review_submit(actor=reviewer, request=fraud, decision="approve")
        services.transition_request_withdraw(actor=owner, request=ranker)
        assert [r.pk for r in selectors.review_queue(reviewer, "waiting", 1).page] == [churn.pk]
        client.force_login(reviewer)
        html = client.get(QUEUE).content.decode()
        assert tab_rows(html) == 1
        assert f'href="/approvals/requests/{churn.pk}/"' in html
        assert '<span class="badge count" id="count-waiting">1</span>' in html
        assert '<span class="badge count" id="count-open">2</span>' in html
        assert '<span class="badge count" id="count-decided">1</span>' in html

    def test_a_stale_approval_means_waiting_again(self, client, owner, reviewer, versions):
        request = file_request(owner, versions[0])
        services.review_submit(actor=reviewer, request=request, decision="approve")
        assert selectors.waiting_count(reviewer) == 0
        # a new card revision re-runs the request's checks against the new content
        write_card(versions[0], complete_sections())
        services.check_run_rerun(actor="system:worker", version=versions[0])
        assert selectors.waiting_count(reviewer) == 1
        row = selectors.review_queue(reviewer, "waiting", 1).page[0]
        assert (row.pk, row.fresh_approvals) == (request.pk, 0)

    def test_the_requester_and_non_reviewers_wait_for_nothing(self, client, owner, outsider, versions):
        owner.groups.add(Group.objects.get_or_create(name=REVIEWERS)[0])
        file_request(owner, versions[0])
        assert selectors.waiting_count(owner) == 0
        assert selectors.waiting_count(outsider) == 0
        client.force_login(outsider)
        html = client.get(QUEUE).content.decode()
        assert "Nothing waits for your review." in html
        assert '<span class="badge count" id="count-open">1</span>' in html


class TestTabs:
    def test_all_open_lists_every_open_request_oldest_first(self, client, owner, reviewer, versions):
        requests = [file_request(owner, v) for v in versions]
        TransitionRequest.objects.filter(pk=requests[2].pk).update(status="failed")
        client.force_login(reviewer)
        html = client.get(QUEUE + "?tab=open").content.decode()
        assert tab_rows(html) == 3
        positions = [html.index(f'href="/approvals/requests/{r.pk}/"') for r in requests]
        assert positions == sorted(positions)
        assert (
            '<a href="?tab=open" hx-get="?tab=open" hx-target="#queue-tab" hx-swap="outerHTML" hx-push-url="true" aria-current="page">'
            in html
        )

    def test_recently_decided_is_newest_first_within_30_days(self, client, owner, reviewer, versions):
        old, newer, newest = (file_request(owner, v) for v in versions)
        now = timezone.now()
        TransitionRequest.objects.filter(pk=old.pk).update(
            status="applied", status_changed_at=now - dt.timedelta(days=31)
        )
        TransitionRequest.objects.filter(pk=newer.pk).update(
            status="rejected", status_changed_at=now - dt.timedelta(days=2)
        )
        TransitionRequest.objects.filter(pk=newest.pk).update(status="applying", status_changed_at=now)
        client.force_login(reviewer)
        html = client.get(QUEUE + "?tab=decided").content.decode()
        assert tab_rows(html) == 2
        assert html.index(f"/approvals/requests/{newest.pk}/") < html.index(f"/approvals/requests/{newer.pk}/")
        assert f"/approvals/requests/{old.pk}/" not in html

    def test_the_htmx_branch_returns_the_tab_only(self, client, reviewer):
        client.force_login(reviewer)
        html = client.get(QUEUE + "?tab=open", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="queue-tab").content.decode()
        assert "<html" not in html
        assert html.lstrip().startswith('<div id="queue-tab">')
        assert "No open requests." in html

    def test_a_bad_tab_falls_back_to_waiting(self, client, reviewer):
        client.force_login(reviewer)
        response = client.get(QUEUE + "?tab=nope")
        assert response.status_code == 200
        assert "Waiting for my review" in response.content.decode()

    def test_anonymous_users_are_sent_to_sign_in(self, client):
        assert client.get(QUEUE)["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("count", [3, 30])
def test_the_queue_query_count_does_not_grow(
    client, mirror, owner, reviewer, reviewer_b, django_assert_num_queries, count
):
    other = reviewer_b
    for i in range(count):
        request = file_request(owner, mirror.version(f"M{i:02d}", stage="Staging"))
        if i % 3 == 0:
            services.review_submit(actor=other, request=request, decision="approve")
        if i % 3 == 1:
            TransitionRequest.objects.filter(pk=request.pk).update(status="applied")
    client.force_login(reviewer)
    # session, user, tab counts, page count, page rows, nav badge, audit nav link, footer's last sync,
    # + the governance section: waivers awaiting me, re-certifications awaiting me or overdue (not on a tab swap)
    for tab in ("waiting", "open", "decided"):
        with django_assert_num_queries(10):
            response = client.get(f"{QUEUE}?tab={tab}")
        assert response.status_code == 200
    with django_assert_num_queries(5):
        client.get(f"{QUEUE}?tab=open", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="queue-tab")


class TestNavBadge:
    def test_it_counts_what_waits_for_me(self, client, owner, reviewer, versions):
        for v in versions[:2]:
            file_request(owner, v)
        client.force_login(reviewer)
        html = client.get("/").content.decode()
        assert (
            '<a id="nav-reviews" href="/approvals/queue/">Reviews <span class="badge count" title="2 waiting for your review">2'
            in html
        )

    def test_no_badge_when_nothing_waits(self, client, owner, versions):
        file_request(owner, versions[0])
        client.force_login(owner)
        html = client.get("/").content.decode()
        assert '<a id="nav-reviews" href="/approvals/queue/">Reviews</a>' in html

    def test_pages_without_the_nav_cost_no_query_for_it(self, rf, reviewer):
        from approvals.context_processors import reviews_waiting

        request = rf.get("/")
        request.user = reviewer
        context = reviews_waiting(request)
        assert callable(context["reviews_waiting"])
