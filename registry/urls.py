from django.urls import path

from . import views

app_name = "registry"

urlpatterns = [
    path("", views.model_list, name="model_list"),
    path("models/<str:name>/", views.model_detail, name="model_detail"),
    path("models/<str:name>/versions/<int:version>/", views.version_detail, name="version_detail"),
]
