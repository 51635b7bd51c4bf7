"""Default email subscriptions by role: the mails people got before they chose anything keep coming.

A user with a role and no email ``Subscription`` yet gets one, made by the dispatcher at the start of every
dispatch (``services.notifications_dispatch``): reviewers hear of ``request.created``, ML leads and admins of
``registry.unapproved_transition``. Once the row exists it is the user's own (My notifications changes it; choosing
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

from .models import Subscription

ADMINS = "admins"  # not a group: roles.is_admin (a superuser)

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
}


def _role_members() -> Q:
    groups = [name for name in BY_ROLE if name != ADMINS]
    return Q(groups__name__in=groups) | Q(is_superuser=True)


def actions_for(user, group_names) -> list[str]:
    names = set(group_names) | ({ADMINS} if user.is_superuser else set())
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
    rows = []
    for user in users:
        actions = actions_for(user, [group.name for group in user.groups.all()])
        if actions:
            rows.append(
                Subscription(channel=Subscription.EMAIL, user=user, actions=actions, cursor=start_seq(user, now))
            )
    Subscription.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
