from django.urls import path

from . import views

app_name = "evidence"

urlpatterns = [
    path("models/<str:name>/versions/<int:version>/evidence/", views.evidence_page, name="pack"),
    path("models/<str:name>/versions/<int:version>/evidence/evidence.zip", views.evidence_zip, name="zip"),
    path("models/<str:name>/versions/<int:version>/evidence/evidence.pdf", views.evidence_pdf, name="pdf"),
]
