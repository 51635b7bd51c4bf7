"""Sign-ins and failed sign-ins, from Django's auth signals (connected in ``AuditConfig.ready``)."""

from django.contrib.auth import get_user_model

from .services import ANONYMOUS_PREFIX, Target, anonymous_actor, record


def _client(request) -> dict:
    return {"ip": request.META.get("REMOTE_ADDR", "")} if request is not None else {}


def record_login(sender, request, user, **kwargs):
    record(actor=user, action="auth.login", target=Target(type="user", id=user.get_username()), data=_client(request))


def record_login_failed(sender, credentials, request=None, **kwargs):
    claimed = str(credentials.get(get_user_model().USERNAME_FIELD, ""))
    actor = anonymous_actor(claimed)
    record(
        actor=actor,
        action="auth.login_failed",
        target=Target(type="user", id=actor.removeprefix(ANONYMOUS_PREFIX)),
        data=_client(request),
    )
