from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from registry.webhooks import mlflow_hook

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("audit/", include("audit.urls")),
    path("cards/", include("cards.urls")),
    path("approvals/", include("approvals.urls")),
    path("hooks/mlflow", mlflow_hook, name="mlflow_hook"),
    path("", include("registry.urls")),
]
