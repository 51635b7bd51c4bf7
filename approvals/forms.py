from django import forms

from .models import Review, TransitionRequest, allowed_tiers
from .rules import STAGES
from .selectors import QUEUE_TABS


class StageForm(forms.Form):
    stage = forms.ChoiceField(choices=[(s, s) for s in STAGES], initial="Production", label="Target stage")


class RequestCreateForm(forms.Form):
    to_stage = forms.ChoiceField(label="Target stage")
    justification = forms.CharField(
        label="Justification",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        help_text="Why this version should move: what changed, what you checked.",
    )

    def __init__(self, *args, version, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_stage"].choices = [
            (stage, stage) for stage in TransitionRequest.TARGET_STAGES if stage != version.stage
        ]


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=Review.DECISION_CHOICES)
    comment = forms.CharField(
        label="Comment", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )


class CommentForm(forms.Form):
    body = forms.CharField(label="Comment", max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))


class QueueForm(forms.Form):
    tab = forms.ChoiceField(choices=[(tab, tab) for tab in QUEUE_TABS], required=False)


class RiskTierForm(forms.Form):
    tier = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label="Tier")
    reason = forms.CharField(max_length=2000, required=False, label="Reason")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tier"].choices = [("", "none (the default policy)")] + [(t, str(t)) for t in allowed_tiers()]
