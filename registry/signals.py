"""Signals the mirror sends; other apps connect to them so that ``registry`` never imports them."""

from django.dispatch import Signal

# Sent inside the sync's transaction when a model renamed in MLflow is recognised: kwargs ``model``
# (the RegisteredModel row, already under its new name), ``old_name`` and ``new_name``. Receivers move
# the rows they keep by model name, in the same transaction.
model_renamed = Signal()
