from django.urls import path, re_path

from . import views

app_name = "registry"

urlpatterns = [
    path("", views.model_list, name="model_list"),
    path("sync/", views.sync_now, name="sync_now"),
    path("sync/<int:pk>/", views.sync_status, name="sync_status"),
    path("models/<str:name>/", views.model_detail, name="model_detail"),
    path("models/<str:name>/sync/", views.model_sync, name="model_sync"),
    path("models/<str:name>/versions/<int:version>/", views.version_detail, name="version_detail"),
    path("models/<str:name>/versions/<int:version>/lineage/", views.version_lineage_view, name="version_lineage"),
    path("lineage/", views.lineage_search, name="lineage_search"),
    path("datasets/<str:digest>/", views.dataset_detail, name="dataset_detail"),
    path("datasets/<int:pk>/schema/", views.dataset_schema, name="dataset_schema"),
    re_path(r"^commits/(?P<prefix>[0-9a-fA-F]{4,64})/$", views.commit_detail, name="commit_detail"),
]
