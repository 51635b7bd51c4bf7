"""Default email subscriptions by role: the mails people got before they chose anything keep coming.

A user with a role and no email ``Subscription`` yet gets one, made by the dispatcher at the start of every
dispatch (``services.notifications_dispatch``): reviewers hear of ``request.created``, ML leads and admins of
``registry.unapproved_transition``, a model's owners (``MODEL_OWNERS``) of its governance events (``owned:`` keys:
only for the models they own). Once the row exists it is the user's own (My notifications changes it; choosing
nothing turns it off), and the dispatcher never touches it again. Why a sweep and not a receiver on group
membership: docs/notifications.md, "Default subscriptions".
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone

from audit.models import AuditEvent
from registry_portal import roles

from .events import OWNED
from .models import Subscription

ADMINS = "admins"  # not a group: roles.is_admin (a superuser)
MODEL_OWNERS = "model owners"  # not a group: whoever owns a model (roles.owned_model_names), for their models

# role (a group name, or ADMINS) → the events its members are emailed by default.
BY_ROLE = {
    roles.REVIEWERS: [
        "request.created",
        "finding.remediated",
        "waiver.requested",
        "waiver.expired",
        "recertification.opened",
        "recertification.reminder",
        "recertification.overdue",
        "recertification.rejected",
    ],
    roles.ML_LEADS: [
        "registry.unapproved_transition",
        "finding.opened",
        "model.risk_tier_set",
        "waiver.expired",
        "recertification.overdue",
    ],
    ADMINS: [
        "registry.unapproved_transition",
        "registry.unapproved_reverted",
        "registry.revert_skipped",
        "registry.revert_failed",
        "waiver.expired",
        "recertification.overdue",
    ],
    MODEL_OWNERS: [
        OWNED + key
        for key in (
            "waiver.expired_in_production",
            "recertification.opened",
            "recertification.reminder",
            "recertification.overdue",
            "registry.unapproved_reverted",
            "registry.revert_skipped",
            "registry.revert_failed",
        )
    ],
}


def _role_members() -> Q:
    groups = [name for name in BY_ROLE if name not in (ADMINS, MODEL_OWNERS)]
    return Q(groups__name__in=groups) | Q(is_superuser=True) | roles.model_owners()


def actions_for(user, group_names, *, owns_a_model: bool = False) -> list[str]:
    names = set(group_names) | ({ADMINS} if user.is_superuser else set()) | ({MODEL_OWNERS} if owns_a_model else set())
    return sorted({action for role, actions in BY_ROLE.items() if role in names for action in actions})


def start_seq(user, now) -> int:
    """Where a default subscription's cursor starts: the last event before the user joined, or before
    NOTIFY_DEFAULT_LOOKBACK_SECONDS ago, whichever is later — so the events between "they had the role" and "the
    sweep saw them" (at most a beat or a backlog) reach them, and a user given a role today is not sent months of
    history."""
    since = max(user.date_joined, now - timedelta(seconds=settings.NOTIFY_DEFAULT_LOOKBACK_SECONDS))
    return AuditEvent.objects.filter(created_at__lt=since).aggregate(seq=Max("seq"))["seq"] or 0


def default_subscriptions_create(*, now=None) -> int:
    """Email subscriptions for active users with a role and an address but no email subscription; how many.

    One query when there is no one to add (every dispatch); a unique constraint (one email subscription per user)
    makes two dispatchers adding the same user harmless.
    """
    now = now or timezone.now()
    has_one = Subscription.objects.filter(channel=Subscription.EMAIL, user=OuterRef("pk"))
    users = list(
        get_user_model()
        .objects.filter(_role_members(), is_active=True)
        .exclude(email="")
        .filter(~Exists(has_one))
        .distinct()
        .prefetch_related("groups")
    )
    owners = set()
    if users:
        owners = set(
            get_user_model()
            .objects.filter(roles.model_owners(), pk__in=[u.pk for u in users])
            .values_list("pk", flat=True)
        )
    rows = []
    for user in users:
        actions = actions_for(user, [group.name for group in user.groups.all()], owns_a_model=user.pk in owners)
        if actions:
            rows.append(
                Subscription(channel=Subscription.EMAIL, user=user, actions=actions, cursor=start_seq(user, now))
            )
    Subscription.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
