from django.urls import path

from . import views, views_governance

app_name = "approvals"

urlpatterns = [
    path("models/<str:name>/versions/<int:version>/checks/", views.version_checks, name="version_checks"),
    path("models/<str:name>/versions/<int:version>/checks/run/", views.check_run_start, name="check_run_start"),
    path("models/<str:name>/versions/<int:version>/checks/dry-run/", views.dry_run, name="dry_run"),
    path("models/<str:name>/versions/<int:version>/request/", views.request_create, name="request_create"),
    path("checks/<int:pk>/", views.check_run_detail, name="check_run_detail"),
    path("queue/", views.queue, name="queue"),
    path("requests/<int:pk>/", views.request_detail, name="request_detail"),
    path("requests/<int:pk>/review/", views.review_submit, name="review_submit"),
    path("requests/<int:pk>/withdraw/", views.request_withdraw, name="request_withdraw"),
    path("requests/<int:pk>/retry/", views.request_retry, name="request_retry"),
    path("requests/<int:pk>/comments/", views.request_comment, name="request_comment"),
    path("models/<str:name>/versions/<int:version>/waiver/", views_governance.waiver_create, name="waiver_create"),
    path("waivers/<int:pk>/", views_governance.waiver_detail, name="waiver_detail"),
    path("waivers/<int:pk>/attest/", views_governance.waiver_attest, name="waiver_attest"),
    path("waivers/<int:pk>/withdraw/", views_governance.waiver_withdraw, name="waiver_withdraw"),
    path("recertifications/<int:pk>/", views_governance.recertification_detail, name="recertification_detail"),
    path("recertifications/<int:pk>/attest/", views_governance.recertification_attest, name="recertification_attest"),
    path("models/<str:name>/risk-tier/", views_governance.risk_tier_set, name="risk_tier_set"),
    path("governance/", views_governance.governance_list, name="governance_list"),
    path("unapproved/<int:pk>/acknowledge/", views.unapproved_acknowledge, name="unapproved_acknowledge"),
]
