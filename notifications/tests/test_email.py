"""Email: one mail per event to the user, filtered by the actions and models they chose."""

from django.core import mail

from notifications import services
from notifications.models import Delivery

from .conftest import event


def test_preferences_filter_by_action_and_model(reviewer_a):
    services.email_preferences_save(actor=reviewer_a, actions=["request.created"], model_names=["iris"])
    event("request.created", model="iris", version=2)
    event("request.created", model="wine")
    event("request.applied", model="iris")
    services.notifications_dispatch()
    [message] = mail.outbox
    assert message.to == [reviewer_a.email]
    assert message.subject == "[Registry Portal] iris v2: a transition request was filed, by system:worker"
    assert "/approvals/requests/7/" in message.body


def test_empty_model_names_mean_every_model(reviewer_a):
    services.email_preferences_save(actor=reviewer_a, actions=["request.created"], model_names=[])
    event(model="iris")
    event(model="wine")
    services.notifications_dispatch()
    assert len(mail.outbox) == 2


def test_choosing_nothing_turns_email_off_and_back_on_starts_from_now(reviewer_a):
    services.email_preferences_save(actor=reviewer_a, actions=["request.created"], model_names=[])
    services.email_preferences_save(actor=reviewer_a, actions=[], model_names=[])
    event()
    services.notifications_dispatch()
    services.email_preferences_save(actor=reviewer_a, actions=["request.created"], model_names=[])
    services.notifications_dispatch()
    assert mail.outbox == []


def test_a_user_without_an_address_gets_a_dead_delivery_not_endless_retries(reviewer_a):
    reviewer_a.email = ""
    reviewer_a.save()
    services.email_preferences_save(actor=reviewer_a, actions=["request.created"], model_names=[])
    event()
    services.notifications_dispatch()
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DEAD and "no email address" in delivery.last_error
