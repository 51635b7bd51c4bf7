from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from registry.webhooks import mlflow_hook
from registry_portal.api import api, unknown_endpoint

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", api.urls),
    re_path(r"^api/v1/(?P<rest>.*)$", unknown_endpoint),
    path("audit/", include("audit.urls")),
    path("cards/", include("cards.urls")),
    path("approvals/", include("approvals.urls")),
    path("notifications/", include("notifications.urls")),
    path("hooks/mlflow", mlflow_hook, name="mlflow_hook"),
    # Operations: /healthz, /readyz, /metrics (docs/operations.md).
    path("", include("ops.urls")),
    path("", include("registry.urls")),
]
