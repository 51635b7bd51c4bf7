"""Who is who, in one place: the groups the portal's permissions name, its system actors, and "admin".

Every app's ``access.py`` asks these; no other module spells a group name, a system actor or the
admin test. ``audit`` imports this too, so it lives in the project package, not in an app.
"""

from django.db.models import Q

REVIEWERS = "reviewers"
ML_LEADS = "ml-leads"
OWNERS = "owners"

SYSTEM_SYNC = "system:sync"
SYSTEM_WORKER = "system:worker"
SYSTEM_WEBHOOK = "system:mlflow-webhook"
# An operator at ``manage.py`` (e.g. ``api_token``): audited under this name, not one of the actors that
# may act without a user (``SYSTEM_ACTORS``).
SYSTEM_COMMAND_LINE = "system:command-line"
# Sign-in through the identity provider sets the roles its groups claim maps (accounts.oidc); audited as this.
SYSTEM_SSO = "system:sso"
SYSTEM_ACTORS = (SYSTEM_SYNC, SYSTEM_WORKER, SYSTEM_WEBHOOK)


def is_admin(user) -> bool:
    """The portal's one definition of an admin: a signed-in superuser (``is_staff`` alone only opens Django admin)."""
    return bool(getattr(user, "is_authenticated", False) and user.is_superuser)


def in_group(user, *names: str) -> bool:
    """Whether a signed-in ``user`` belongs to any of the groups ``names``."""
    return bool(getattr(user, "is_authenticated", False)) and user.groups.filter(name__in=names).exists()


def is_owner(user, model) -> bool:
    """Owners of a model: the users the portal names on it (``registry.ModelOwner``) and the members of the groups
    it names. MLflow's ``owner`` tag (``RegisteredModel.owner_tag``) grants nothing (docs/roles.md).

    One query; none when the model's ``owners`` are prefetched and name no group (one for the user's groups when
    they do): list pages prefetch them (``registry.selectors.with_owners``).
    """
    if not getattr(user, "is_authenticated", False) or model is None or model.pk is None:
        return False
    prefetched = getattr(model, "_prefetched_objects_cache", {}).get("owners")
    if prefetched is None:
        return model.owners.filter(Q(user_id=user.pk) | Q(group__user=user.pk)).exists()
    if any(row.user_id == user.pk for row in prefetched):
        return True
    groups = {row.group_id for row in prefetched if row.group_id}
    return bool(groups) and user.groups.filter(pk__in=groups).exists()


def _model_owner_rows():
    # By app label: this module imports no app (audit imports it); ``registry.ModelOwner`` names the owners.
    from django.apps import apps

    return apps.get_model("registry", "ModelOwner").objects


def owned_model_names(user) -> set[str]:
    """The names of the models ``user`` owns (named on it, or in a group named on it); one query."""
    if user is None or user.pk is None:
        return set()
    rows = _model_owner_rows().filter(Q(user_id=user.pk) | Q(group__user=user.pk))
    return set(rows.values_list("model__name", flat=True))


def model_owners() -> Q:
    """Users who own at least one model, directly or through a group (a filter on the user model)."""
    rows = _model_owner_rows()
    return Q(pk__in=rows.filter(user__isnull=False).values("user_id")) | Q(
        groups__in=rows.filter(group__isnull=False).values("group_id")
    )


def is_owner_or_admin(user, model) -> bool:
    """Who stewards a model: its owners and admins change its card and file its transition requests."""
    return is_admin(user) or is_owner(user, model)
