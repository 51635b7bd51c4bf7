from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("oidc/start/", views.SignInStart.as_view(), name="oidc_start"),
    path("oidc/callback/", views.SignInCallback.as_view(), name="oidc_callback"),
]
