from django.urls import path

from . import views

app_name = "findings"

urlpatterns = [
    path("", views.finding_list, name="finding_list"),
    path("<int:pk>/", views.finding_detail, name="finding_detail"),
    path("<int:pk>/remediate/", views.finding_remediate, name="finding_remediate"),
    path("<int:pk>/close/", views.finding_close, name="finding_close"),
    path("<int:pk>/accept/", views.finding_accept, name="finding_accept"),
    path("<int:pk>/reopen/", views.finding_reopen, name="finding_reopen"),
    path("models/<str:name>/versions/<int:version>/open/", views.finding_open, name="finding_open"),
    path("models/<str:name>/versions/<int:version>/carry/", views.finding_carry, name="finding_carry"),
]
