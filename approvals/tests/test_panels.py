"""What approvals adds to the registry's pages (approvals/panels.py): the request form on the version page and
the open request instead of it, the open requests on the model page and list, and the red banners of
transitions made in MLflow without an approved request, which admins acknowledge."""

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals.models import TransitionRequest, UnapprovedTransition
from tests.factories import file_request

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


# --- filing a request from the version page ------------------------------------------------------


class TestRequestPanel:
    def test_the_owner_sees_the_form_without_the_current_stage(self, client, owner, ready):
        client.force_login(owner)
        html = client.get(ready.get_absolute_url()).content.decode()
        assert 'id="request-panel"' in html
        assert '<option value="Production"' in html
        assert '<option value="Archived"' in html
        assert '<option value="Staging"' not in html
        assert '<label for="id_justification">' in html
        assert '<label for="id_to_stage">' in html

    def test_others_see_no_form(self, client, reviewer, ready):
        client.force_login(reviewer)
        html = client.get(ready.get_absolute_url()).content.decode()
        assert "No open transition request for this version." in html
        assert "Request transition" not in html

    def test_the_open_request_is_shown_to_everyone_instead_of_the_form(self, client, owner, reviewer, ready):
        request = file_request(owner, ready)
        for user in (owner, reviewer):
            client.force_login(user)
            html = client.get(ready.get_absolute_url()).content.decode()
            assert f'href="{request.get_absolute_url()}"' in html
            assert "Request transition" not in html

    def test_filing_redirects_to_the_request_page(self, client, owner, ready):
        client.force_login(owner)
        url = reverse("approvals:request_create", args=["Churn", 2])
        response = client.post(url, {"to_stage": "Production", "justification": "beats v1"})
        request = TransitionRequest.objects.get()
        assert response.status_code == 302
        assert response["Location"] == request.get_absolute_url()
        assert (request.to_stage, request.justification, request.requested_by) == ("Production", "beats v1", owner)

    def test_filing_with_htmx_sends_the_browser_to_the_request_page(self, client, owner, ready):
        client.force_login(owner)
        url = reverse("approvals:request_create", args=["Churn", 2])
        response = client.post(url, {"to_stage": "Archived", "justification": "retired"}, **HTMX)
        assert response.status_code == 200
        assert response["HX-Redirect"] == TransitionRequest.objects.get().get_absolute_url()

    @pytest.mark.parametrize(
        ("data", "error"),
        [
            ({"to_stage": "Production", "justification": "  "}, "This field is required."),
            ({"to_stage": "Production"}, "This field is required."),
            ({"to_stage": "Limbo", "justification": "why"}, "Select a valid choice."),
            ({"to_stage": "Staging", "justification": "again"}, "Select a valid choice."),
        ],
    )
    def test_bad_input_shows_the_errors_with_400_and_files_nothing(self, client, owner, ready, data, error):
        client.force_login(owner)
        url = reverse("approvals:request_create", args=["Churn", 2])
        for extra in ({}, HTMX):
            response = client.post(url, data, **extra)
            html = response.content.decode()
            assert response.status_code == 400
            assert error in html
            assert 'role="alert"' in html
            assert ("<html" in html) is not bool(extra)
        assert not TransitionRequest.objects.exists()

    def test_the_service_refusal_is_shown_on_the_form(self, client, owner, mirror):
        fresh = mirror.version(stage="None")  # the default policy moves to Production only from Staging
        client.force_login(owner)
        url = reverse("approvals:request_create", args=["Churn", fresh.version])
        response = client.post(url, {"to_stage": "Production", "justification": "skip staging"})
        assert response.status_code == 400
        assert "the policy moves versions to Production only from Staging" in response.content.decode()
        assert not TransitionRequest.objects.exists()

    def test_a_second_open_request_is_a_409_naming_the_first(self, client, owner, ready):
        first = file_request(owner, ready)
        client.force_login(owner)
        url = reverse("approvals:request_create", args=["Churn", 2])
        response = client.post(url, {"to_stage": "Archived", "justification": "changed my mind"})
        html = response.content.decode()
        assert response.status_code == 409
        assert f"v2 already has an open request: #{first.pk} (pending)" in html
        assert f'href="{first.get_absolute_url()}"' in html
        assert TransitionRequest.objects.get() == first

    def test_outsiders_and_reviewers_get_403(self, client, outsider, reviewer, ready):
        url = reverse("approvals:request_create", args=["Churn", 2])
        for user in (outsider, reviewer):
            client.force_login(user)
            assert client.post(url, {"to_stage": "Production", "justification": "x"}).status_code == 403
            assert client.get(url).status_code == 403
        assert not TransitionRequest.objects.exists()

    def test_anonymous_users_are_sent_to_sign_in(self, client, ready):
        url = reverse("approvals:request_create", args=["Churn", 2])
        response = client.post(url, {"to_stage": "Production", "justification": "x"})
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


# --- unapproved transitions --------------------------------------------------------------------


def unapproved(model_name="Churn", version=2, to_value="Production") -> UnapprovedTransition:
    return UnapprovedTransition.objects.create(
        model_name=model_name,
        version_number=version,
        kind="stage",
        from_value="Staging",
        to_value=to_value,
        seen_at=timezone.now(),
    )


class TestUnapprovedBanners:
    def test_the_model_page_lists_each_change_in_a_red_banner(self, client, reviewer, ready):
        unapproved()
        unapproved("Other", 1)
        client.force_login(reviewer)
        html = client.get(reverse("registry:model_detail", args=["Churn"])).content.decode()
        assert 'class="banner banner-danger" role="alert"' in html
        assert "Churn v2: Staging → Production" in html
        assert "Other v1" not in html
        assert "Acknowledge" not in html  # not an admin

    def test_the_model_list_names_the_models_and_marks_their_rows(self, client, reviewer, mirror, ready):
        mirror.version("Quiet")
        unapproved()
        client.force_login(reviewer)
        html = client.get(reverse("registry:model_list")).content.decode()
        assert 'class="banner banner-danger" role="alert"' in html
        assert "Changed in MLflow without an approved request:</strong> <strong>Churn</strong>." in html
        assert html.count("unapproved-marker") == 1

    def test_no_banner_without_unacknowledged_changes(self, client, reviewer, ready):
        unapproved().delete()
        client.force_login(reviewer)
        for url in (reverse("registry:model_list"), reverse("registry:model_detail", args=["Churn"])):
            assert "banner-danger" not in client.get(url).content.decode()

    def test_an_admin_acknowledges_and_the_banner_goes(self, client, admin_user, ready):
        change = unapproved()
        client.force_login(admin_user)
        model_url = reverse("registry:model_detail", args=["Churn"])
        assert "Acknowledge" in client.get(model_url).content.decode()
        url = reverse("approvals:unapproved_acknowledge", args=[change.pk])
        response = client.post(url, {"next": model_url}, follow=True)
        assert response.redirect_chain == [(model_url, 302)]
        html = response.content.decode()
        assert "Acknowledged: Churn v2: Staging → Production." in html
        assert "banner-danger" not in html
        change.refresh_from_db()
        assert change.acknowledged_by == admin_user
        # a second acknowledgement changes nothing; a foreign ``next`` is ignored
        response = client.post(url, {"next": "https://evil.example/"})
        assert response["Location"] == model_url

    def test_others_may_not_acknowledge(self, client, reviewer, owner, ready):
        change = unapproved()
        url = reverse("approvals:unapproved_acknowledge", args=[change.pk])
        for user in (reviewer, owner):
            client.force_login(user)
            assert client.post(url).status_code == 403
        change.refresh_from_db()
        assert change.acknowledged_at is None


# --- the model pages --------------------------------------------------------------------------


def test_the_model_page_lists_open_requests_and_marks_their_versions(client, owner, reviewer, ready):
    request = file_request(owner, ready)
    client.force_login(reviewer)
    html = client.get(reverse("registry:model_detail", args=["Churn"])).content.decode()
    assert f'<a href="{request.get_absolute_url()}">#{request.pk} v2</a>' in html
    assert (
        f'<a class="badge pending" href="{request.get_absolute_url()}" title="request #{request.pk} by olga-owner">→ Production: pending</a>'
        in html
    )


def test_the_model_list_counts_open_requests(client, owner, reviewer, mirror, ready):
    file_request(owner, ready)
    mirror.version("Quiet")
    client.force_login(reviewer)
    html = client.get(reverse("registry:model_list")).content.decode()
    assert '<a class="badge pending" href="/models/Churn/#requests-title">1 open</a>' in html
    assert html.count("open</a>") == 1
