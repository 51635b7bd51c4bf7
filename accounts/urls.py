from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("oidc/start/", views.SignInStart.as_view(), name="oidc_start"),
    path("oidc/callback/", views.SignInCallback.as_view(), name="oidc_callback"),
    path("roles/", views.roles_page, name="roles"),
    path("roles/members/add/", views.role_member_change, {"change": "add"}, name="role_member_add"),
    path("roles/members/remove/", views.role_member_change, {"change": "remove"}, name="role_member_remove"),
    path("roles/owners/add/", views.owner_add, name="owner_add"),
    path("roles/owners/<int:pk>/remove/", views.owner_remove, name="owner_remove"),
    path("roles/owner-tag/dismiss/", views.owner_tag_dismiss, name="owner_tag_dismiss"),
]
