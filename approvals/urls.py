from django.urls import path

from . import views

app_name = "approvals"

urlpatterns = [
    path("models/<str:name>/versions/<int:version>/checks/", views.version_checks, name="version_checks"),
    path("models/<str:name>/versions/<int:version>/checks/run/", views.check_run_start, name="check_run_start"),
    path("models/<str:name>/versions/<int:version>/checks/dry-run/", views.dry_run, name="dry_run"),
    path("checks/<int:pk>/", views.check_run_detail, name="check_run_detail"),
]
