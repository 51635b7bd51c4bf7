"""``findings_changed``: sent after a finding's change commits, so approvals (which findings never imports)
re-runs the version's checks for its open requests (approvals/receivers.py)."""

from django.dispatch import Signal

# kwargs: version (registry.models.ModelVersion)
findings_changed = Signal()
