"""Sign-ins, from Django's ``user_logged_in`` signal (connected in ``AuditConfig.ready``). Failed sign-ins are
counted by ``accounts`` (``accounts.receivers``), which appends at most a few events per client and window."""

from .services import Target, record


def _client(request) -> dict:
    return {"ip": request.META.get("REMOTE_ADDR", "")} if request is not None else {}


def record_login(sender, request, user, **kwargs):
    record(actor=user, action="auth.login", target=Target(type="user", id=user.get_username()), data=_client(request))
