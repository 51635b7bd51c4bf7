"""Signals the mirror sends; other apps connect to them so that ``registry`` never imports them."""

from django.dispatch import Signal

# Sent inside the sync's transaction when a model renamed in MLflow is recognised: kwargs ``model``
# (the RegisteredModel row, already under its new name), ``old_name`` and ``new_name``. Receivers move
# the rows they keep by model name, in the same transaction.
model_renamed = Signal()

# Sent inside the sync's transaction when versions leave the mirror because MLflow deleted them, re-created
# their model under the same name, or re-used their numbers: kwargs ``model_name``, ``versions`` (numbers)
# and ``reason``. What other apps keep about those versions must not carry over to whatever takes the name
# and number next (open requests are closed; history stays, by name, in the audit log).
versions_removed = Signal()
