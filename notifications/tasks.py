"""Thin tasks: take ids, call a service (docs/notifications.md)."""

from celery import shared_task


@shared_task(ignore_result=True)
def dispatch_notifications():
    """Beat, every NOTIFY_INTERVAL_SECONDS: cursors catch up with the audit log; due deliveries are queued."""
    from . import services

    services.notifications_dispatch()


@shared_task(ignore_result=True)
def deliver_subscription(subscription_id: int):
    from . import services

    services.subscription_deliver(subscription_id=subscription_id)


@shared_task(ignore_result=True)
def send_digests():
    """Beat, daily (NOTIFY_DIGEST_INTERVAL_SECONDS): the "waiting for you" digest to the users who chose it."""
    from . import services

    services.digests_send()
