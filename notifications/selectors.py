"""Reads for the notification pages."""

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404

from .models import Delivery, Subscription

PAGE_SIZE = 50


def email_subscription_of(user) -> Subscription | None:
    return Subscription.objects.filter(channel=Subscription.EMAIL, user=user).first()


def deliveries_page(*, status: str = "", page: int = 1):
    deliveries = Delivery.objects.select_related("subscription__user", "event").order_by("-id")
    if status:
        deliveries = deliveries.filter(status=status)
    return Paginator(deliveries, PAGE_SIZE).get_page(page)


def delivery_get(pk: int) -> Delivery:
    return get_object_or_404(Delivery.objects.select_related("subscription"), pk=pk)
