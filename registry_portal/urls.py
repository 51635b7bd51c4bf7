from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from accounts.views import SignInView, SignOutView
from registry.webhooks import mlflow_hook
from registry_portal.api import api, unknown_endpoint

urlpatterns = [
    # One sign-in page (lockout, single sign-on, local accounts off) for admin too, keeping its ?next=.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("admin/", admin.site.urls),
    # Password and single sign-on, lockout, provider logout (the SSO slice: docs/security.md).
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", SignOutView.as_view(), name="logout"),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", api.urls),
    re_path(r"^api/v1/(?P<rest>.*)$", unknown_endpoint),
    path("audit/", include("audit.urls")),
    path("cards/", include("cards.urls")),
    path("approvals/", include("approvals.urls")),
    path("findings/", include("findings.urls")),
    path("notifications/", include("notifications.urls")),
    path("hooks/mlflow", mlflow_hook, name="mlflow_hook"),
    # Operations: /healthz, /readyz, /metrics (docs/operations.md).
    path("", include("ops.urls")),
    # A version's evidence pack: /models/<name>/versions/<v>/evidence/ (docs/evidence.md).
    path("", include("evidence.urls")),
    path("", include("registry.urls")),
]
