"""Which audit events people can be notified of, and how one reads in a message (email or Slack-style JSON)."""

from __future__ import annotations

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from audit.services import ACTIONS

# The event keys a subscription may choose, with the label the preferences page shows. Most are audit actions;
# "Request rejected" is review.rejected (any rejection rejects the request). "Check run failed" is not an audit
# action: it is a checks.completed event whose data says the run did not pass (DERIVED, below).
NOTIFIABLE = {
    "request.created": "a transition request was filed",
    "request.approved": "a request was approved",
    "review.rejected": "a request was rejected",
    "request.applied": "an approved transition was applied in MLflow",
    "request.failed": "applying a transition failed",
    "review.approved": "a reviewer approved",
    "review.commented": "a comment was added to a request",
    "registry.unapproved_transition": "a stage or alias changed in MLflow without an approved request",
    "registry.unapproved_reverted": "an unapproved Production change was put back (out_of_band: revert)",
    "registry.revert_skipped": "an unapproved Production change could not be reverted safely",
    "registry.revert_failed": "reverting an unapproved Production change failed",
    "card.published": "a model card was published",
    "model.risk_tier_set": "a model's risk tier was set or derived from its card",
    "checks.completed": "a governance check run finished (passed or failed)",
    "checks.failed": "a governance check run failed (a rule failed, or the run could not be evaluated)",
    "waiver.requested": "a waiver was requested",
    "waiver.expired": "a waiver expired",
    "waiver.expired_in_production": "a waiver of a version in Production expired (its rule fails again)",
    "recertification.opened": "a re-certification was opened",
    "recertification.reminder": "a re-certification falls due soon",
    "recertification.overdue": "a re-certification is overdue",
    "recertification.certified": "a version was re-certified",
    "recertification.rejected": "a re-certification was rejected",
    "finding.opened": "a finding was opened on a version",
    "finding.remediated": "a finding's owner recorded its remediation",
    "finding.closed": "a finding was closed",
    "finding.reopened": "a remediated finding was reopened",
}

# Event keys that are not audit actions: key → (the audit action, a predicate on that event's data). A run that
# could not be evaluated (status "error") did not pass either, so it is a failed run to whoever waits on it.
DERIVED = {
    "checks.failed": ("checks.completed", lambda data: (data or {}).get("status") in ("failed", "error")),
    "waiver.expired_in_production": ("waiver.expired", lambda data: bool((data or {}).get("in_production"))),
}

# The "owners of the model" recipient kind: ``owned:<key>`` matches an event of ``<key>`` on a model the email
# subscription's user owns (``roles.owned_model_names``: named on it, or in a group named on it), whoever they
# are; a webhook has no user, so it owns nothing. What an owner may choose, and what owners get by default.
OWNED = "owned:"
OWNER_EVENTS = (
    "waiver.expired_in_production",
    "recertification.opened",
    "recertification.reminder",
    "recertification.overdue",
    "recertification.rejected",
    "registry.unapproved_transition",
    "registry.unapproved_reverted",
    "registry.revert_skipped",
    "registry.revert_failed",
    "request.applied",
    "request.failed",
    "finding.opened",
)
OWNED_NOTIFIABLE = {OWNED + key: f"{NOTIFIABLE[key]}, on a model I own" for key in OWNER_EVENTS}


def keys_of(action: str, data: dict | None, *, owned: bool = False) -> set[str]:
    """The event keys an audit event matches: its action, and each derived key whose predicate holds; with
    ``owned`` (the event's model is the subscriber's), each of those as ``owned:<key>`` too."""
    keys = {action}
    for key, (base, predicate) in DERIVED.items():
        if base == action and predicate(data):
            keys.add(key)
    return keys | {OWNED + key for key in keys} if owned else keys


def needs_data(keys) -> bool:
    """Whether matching ``keys`` has to read the events' data (only derived keys look at it)."""
    return any(key.removeprefix(OWNED) in DERIVED for key in keys)


def needs_ownership(keys) -> bool:
    """Whether matching ``keys`` has to know the models the subscriber owns (``owned:`` keys)."""
    return any(key.startswith(OWNED) for key in keys)


# Where a target lives in the portal, by audit target type: (URL name, how its arguments come from the event).
_PAGES = {
    "transition_request": ("approvals:request_detail", lambda e: [int(e.target_id)]),
    "check_run": ("approvals:check_run_detail", lambda e: [int(e.target_id)]),
    "card_revision": ("cards:card_detail", lambda e: [e.model_name, e.version]),
    "waiver": ("approvals:waiver_detail", lambda e: [int(e.target_id)]),
    "recertification": ("approvals:recertification_detail", lambda e: [int(e.target_id)]),
    "model_version": ("registry:version_detail", lambda e: [e.model_name, e.version]),
}


def link(event) -> str:
    """The portal page of the event's target: its own page, else its version's or model's, else the audit log."""
    candidates = []
    if event.target_type in _PAGES:
        name, args = _PAGES[event.target_type]
        candidates.append((name, args))
    if event.model_name and event.version:
        candidates.append(("registry:version_detail", lambda e: [e.model_name, e.version]))
    if event.model_name:
        candidates.append(("registry:model_detail", lambda e: [e.model_name]))
    for name, args in candidates:
        try:
            return settings.PORTAL_URL + reverse(name, args=args(event))
        except (NoReverseMatch, TypeError, ValueError):
            continue
    return settings.PORTAL_URL + "/"


def subject(event) -> str:
    """What happened, to what: ``model v3`` when there is a model, else the target."""
    if event.model_name:
        what = f"{event.model_name} v{event.version}" if event.version else event.model_name
    else:
        what = f"{event.target_type} {event.target_id}"
    return what


def summary(event) -> str:
    description = ACTIONS.get(event.action, event.action)
    status = event.data.get("status") if event.action == "checks.completed" else None
    outcome = f" ({status})" if status else ""
    return f"{subject(event)}: {description}{outcome}, by {event.actor}"


def slack_body(event, *, delivery_id: int) -> dict:
    """A Slack-compatible message (``text`` + ``blocks``) and, for machines, the event itself."""
    url = link(event)
    text = f"[Registry Portal] {summary(event)}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*<{url}|{subject(event)}>*\n{summary(event)}"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"`{event.action}` · audit event #{event.seq} · {event.created_at:%Y-%m-%d %H:%M:%S} UTC",
                    }
                ],
            },
        ],
        "event": {
            "delivery_id": delivery_id,
            "seq": event.seq,
            "action": event.action,
            "actor": event.actor,
            "target_type": event.target_type,
            "target_id": event.target_id,
            "model_name": event.model_name,
            "version": event.version,
            "created_at": event.created_at.isoformat(),
            "data": event.data,
            "hash": event.hash,
            "url": url,
        },
    }


def _moved(data: dict) -> str:
    what = f"alias {data['alias']}: " if data.get("alias") else ""
    return f"{what}{data.get('from') or '—'} → {data.get('to') or '—'}"


# What an email adds for some actions, from the event's data: the change asked for or seen, and why.
_DETAILS = {
    "request.created": lambda e: (
        f"{subject(e)}: {_moved(e.data)}, needing {e.data.get('required_approvals', '?')} approval(s) and passing "
        f"governance checks.\n\nJustification:\n{e.data.get('justification', '')}"
    ),
    "registry.unapproved_transition": lambda e: (
        f"{subject(e)}: {_moved(e.data)} ({e.data.get('kind', 'stage')} change in MLflow with no approved portal "
        "request behind it)"
    ),
    "registry.unapproved_reverted": lambda e: f"{subject(e)}: {e.data.get('outcome') or 'put back'}",
    "registry.revert_skipped": lambda e: (
        f"{subject(e)}: left as MLflow shows it, because {e.data.get('reason', '')}. Decide by hand."
    ),
    "registry.revert_failed": lambda e: f"{subject(e)}: MLflow left unchanged: {e.data.get('reason', '')}",
}


def email_message(event) -> tuple[str, str]:
    """(subject, body) of the one email an event makes."""
    details = _DETAILS.get(event.action)
    body = (
        f"{summary(event)}.\n\n"
        + (f"{details(event)}\n\n" if details else "")
        + f"Open it in the portal: {link(event)}\n\n"
        f"Audit event #{event.seq} ({event.action}) at {event.created_at:%Y-%m-%d %H:%M} UTC.\n"
        "You receive this because of your notification preferences: "
        f"{settings.PORTAL_URL}{reverse('notifications:preferences')}\n"
    )
    return f"[Registry Portal] {summary(event)}", body
