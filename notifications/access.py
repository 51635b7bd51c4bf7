"""May this user do X to notifications? One function per question, returning a ``Refusal`` or None."""

from registry_portal import roles
from registry_portal.access import Refusal


def preferences_refusal(user) -> Refusal | None:
    if not getattr(user, "is_authenticated", False):
        return Refusal("sign in to choose your notifications")
    return None


def deliveries_view_refusal(user) -> Refusal | None:
    if not roles.is_admin(user):
        return Refusal("only admins see notification deliveries")
    return None


def delivery_retry_refusal(user, delivery) -> Refusal | None:
    if refusal := deliveries_view_refusal(user):
        return Refusal("only admins retry notification deliveries")
    if not delivery.can_retry:
        return Refusal(
            f"delivery #{delivery.pk} is {delivery.status}: only failed or dead ones are retried", conflict=True
        )
    return refusal
