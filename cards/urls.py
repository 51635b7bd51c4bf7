from django.urls import path

from . import views

app_name = "cards"

urlpatterns = [
    path("<str:name>/<int:version>/", views.card_detail, name="card_detail"),
    path("<str:name>/<int:version>/status/", views.publication_status, name="publication_status"),
    path("<str:name>/<int:version>/publish/", views.publish_again, name="publish_again"),
    path("<str:name>/<int:version>/profile/", views.profile_change, name="profile_change"),
    path("<str:name>/<int:version>/edit/<slug:section>/", views.section_edit, name="section_edit"),
    path("<str:name>/<int:version>/preview/", views.preview, name="preview"),
    path("<str:name>/<int:version>/history/", views.history, name="history"),
    path("<str:name>/<int:version>/model_card.md", views.export_markdown, name="export_markdown"),
    path("<str:name>/<int:version>/model_card.json", views.export_json, name="export_json"),
]
