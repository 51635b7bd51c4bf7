"""The checklist on the version page, Re-run checks, the dry run and the check run page."""

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse

from approvals import selectors, services
from approvals.models import CheckRun, Policy
from tests.factories import complete_sections, write_card

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def urls(version):
    args = [version.model.name, version.version]
    return {
        "panel": reverse("approvals:version_checks", args=args),
        "run": reverse("approvals:check_run_start", args=args),
        "dry_run": reverse("approvals:dry_run", args=args),
    }


@pytest.fixture
def version(mirror):
    return mirror.version(stage="Staging", metrics={"accuracy": 0.85})


@pytest.fixture
def checked(version, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        check_run = services.check_run_create(version=version, stage="Production", actor=owner)
    check_run.refresh_from_db()
    return check_run


class TestPanel:
    def test_it_shows_the_latest_run_with_verdicts_and_evidence(self, client, reviewer, version, checked):
        client.force_login(reviewer)
        response = client.get(urls(version)["panel"])
        html = response.content.decode()
        assert response.status_code == 200
        assert "<html" in html
        assert "failed" in html
        assert "accuracy = 0.85, needs &gt;= 0.9" in html
        assert "<dt>bound</dt><dd><code>0.9</code></dd>" in html
        assert "Re-run checks" in html
        assert f'href="{urls(version)["dry_run"]}?stage=Production"' in html
        assert "Stale" not in html

    def test_it_says_when_the_run_is_stale(self, client, reviewer, version, checked):
        write_card(version, complete_sections())
        client.force_login(reviewer)
        html = client.get(urls(version)["panel"]).content.decode()
        assert "Stale: the run data, version tags or model card changed" in html

    def test_without_runs_it_offers_the_next_stage(self, client, owner, mirror):
        fresh = mirror.version(stage="None")
        client.force_login(owner)
        html = client.get(urls(fresh)["panel"]).content.decode()
        assert "No checks have run for this version yet." in html
        assert "<option selected>Staging</option>" in html

    def test_outsiders_see_the_checklist_but_no_rerun_button(self, client, outsider, version, checked):
        client.force_login(outsider)
        html = client.get(urls(version)["panel"]).content.decode()
        assert "accuracy = 0.85" in html
        assert "Re-run checks" not in html

    def test_the_htmx_branch_returns_only_the_panel_and_polls_while_queued(self, client, owner, version):
        services.check_run_create(version=version, stage="Production", actor=owner)
        client.force_login(owner)
        html = client.get(urls(version)["panel"], **HTMX).content.decode()
        assert "<html" not in html
        assert html.lstrip().startswith('<section class="card checks" id="checks"')
        assert 'hx-trigger="every 2s"' in html
        assert "Checks are queued" in html

    @pytest.mark.parametrize("rules", [1, 12])
    def test_query_count_does_not_grow_with_the_number_of_rules(
        self, client, owner, version, django_capture_on_commit_callbacks, django_assert_num_queries, rules
    ):
        rule = {"type": "metric_threshold", "metric": "accuracy", "op": ">=", "value": 0.5}
        many = [{**rule, "id": f"acc-{n}"} for n in range(rules)]
        Policy.objects.create(model_name="Churn", rules={"Production": many})
        with django_capture_on_commit_callbacks(execute=True):
            services.check_run_create(version=version, stage="Production", actor=owner)
        client.force_login(owner)
        # session + user, version (+ its model's owners, prefetched), latest run, its results, digest (datasets,
        # card); the owner check is then free
        with django_assert_num_queries(8):
            response = client.get(urls(version)["panel"], **HTMX)
        assert response.content.decode().count('class="check passed"') == rules

    def test_the_version_page_shows_the_panel(self, client, reviewer, version, checked):
        client.force_login(reviewer)
        html = client.get(version.get_absolute_url()).content.decode()
        assert 'id="checks"' in html
        assert "accuracy = 0.85, needs &gt;= 0.9" in html

    def test_the_panel_partial_renders_from_its_selector_on_any_page(self, owner, version, checked):
        request = RequestFactory().get("/")
        request.user = owner
        html = Template(
            '{% load registry_tags %}{% render_partial "approvals/version_checks.html#panel" checks %}'
        ).render(
            Context(
                {
                    "checks": selectors.checks_panel(version, owner),
                    "user": owner,
                    "request": request,
                    "csrf_token": "tok",
                }
            )
        )
        assert 'id="checks"' in html
        assert 'name="csrfmiddlewaretoken" value="tok"' in html
        assert "accuracy = 0.85" in html


class TestRerun:
    def test_it_queues_a_run_and_returns_to_the_version_page(self, client, owner, version):
        client.force_login(owner)
        response = client.post(urls(version)["run"], {"stage": "Production"})
        assert response.status_code == 302
        assert response["Location"] == version.get_absolute_url() + "#checks"
        check_run = CheckRun.objects.get()
        assert (check_run.stage, check_run.requested_by) == ("Production", "olga-owner")

    def test_with_htmx_it_swaps_the_panel_in_place(self, client, owner, version, django_capture_on_commit_callbacks):
        client.force_login(owner)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(urls(version)["run"], {"stage": "Staging"}, **HTMX)
        html = response.content.decode()
        assert response.status_code == 200
        assert "<html" not in html
        assert 'id="checks"' in html
        assert "Checks are queued" in html  # rendered before the task ran after commit
        assert CheckRun.objects.get().status == CheckRun.PASSED

    def test_a_bad_stage_is_a_400_with_the_reason(self, client, owner, version):
        client.force_login(owner)
        response = client.post(urls(version)["run"], {"stage": "Prod"}, **HTMX)
        assert response.status_code == 400
        assert (
            "Target stage: Select a valid choice. Prod is not one of the available choices."
            in response.content.decode()
        )
        assert not CheckRun.objects.exists()

    def test_a_forged_post_by_an_outsider_is_refused(self, client, outsider, version):
        client.force_login(outsider)
        assert client.post(urls(version)["run"], {"stage": "Production"}).status_code == 403
        assert not CheckRun.objects.exists()

    def test_get_is_not_allowed_and_anonymous_users_sign_in(self, client, owner, version):
        assert client.post(urls(version)["run"], {"stage": "Production"}).status_code == 302
        client.force_login(owner)
        assert client.get(urls(version)["run"]).status_code == 405
        assert (
            client.post(reverse("approvals:check_run_start", args=["Nope", 1]), {"stage": "Staging"}).status_code == 404
        )
        assert not CheckRun.objects.exists()


class TestDryRun:
    def test_it_lists_what_would_block_and_stores_nothing(self, client, outsider, version):
        client.force_login(outsider)
        response = client.get(urls(version)["dry_run"], {"stage": "Production"})
        html = response.content.decode()
        assert response.status_code == 200
        assert "2 rules would block it." in html
        assert "accuracy = 0.85, needs &gt;= 0.9" in html
        assert "model card 0% complete" in html
        assert not CheckRun.objects.exists()

    def test_nothing_blocks_a_ready_version(self, client, outsider, mirror):
        ready = mirror.version(stage="Staging")
        write_card(ready, complete_sections())
        client.force_login(outsider)
        html = client.get(urls(ready)["dry_run"], {"stage": "Production"}, **HTMX).content.decode()
        assert "<html" not in html
        assert "Nothing blocks it" in html

    def test_a_bad_stage_is_a_400(self, client, outsider, version):
        client.force_login(outsider)
        response = client.get(urls(version)["dry_run"], {"stage": "Live"})
        assert response.status_code == 400
        assert "Target stage: Select a valid choice." in response.content.decode()


class TestCheckRunPage:
    def test_it_shows_the_run(self, client, reviewer, checked):
        client.force_login(reviewer)
        html = client.get(checked.get_absolute_url()).content.decode()
        assert f"Checks #{checked.pk} → Production" in html
        assert "metric accuracy" not in html
        assert "accuracy = 0.85" in html
        assert "hx-trigger" not in html

    def test_a_queued_run_polls_and_a_deleted_version_still_reads(self, client, reviewer, version, owner):
        check_run = services.check_run_create(version=version, stage="Staging", actor=owner)
        client.force_login(reviewer)
        html = client.get(check_run.get_absolute_url(), **HTMX).content.decode()
        assert html.lstrip().startswith('<section id="run"')
        assert 'hx-trigger="every 2s"' in html
        version.delete()
        html = client.get(check_run.get_absolute_url()).content.decode()
        assert "(no longer in the registry)" in html

    def test_unknown_runs_are_404(self, client, reviewer):
        client.force_login(reviewer)
        assert client.get(reverse("approvals:check_run_detail", args=[999])).status_code == 404
