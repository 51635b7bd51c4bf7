import re

from django import forms

from .events import NOTIFIABLE, OWNED_NOTIFIABLE
from .models import Delivery


class PreferencesForm(forms.Form):
    actions = forms.MultipleChoiceField(
        label="Email me when",
        choices=[*NOTIFIABLE.items(), *OWNED_NOTIFIABLE.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text='Choose none to receive no email. "On a model I own": only for the models you own.',
    )
    digest = forms.BooleanField(
        label="Send me a daily digest of what waits for me",
        required=False,
        help_text="One email a day, only when something waits for you (e.g. requests waiting for your review).",
    )
    model_names = forms.CharField(
        label="Only for these models",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Registered model names, one per line or separated by commas; empty means every model.",
    )

    def clean_model_names(self) -> list[str]:
        names = [name.strip() for name in re.split(r"[,\n]", self.cleaned_data["model_names"]) if name.strip()]
        too_long = [name for name in names if len(name) > 256]
        if too_long:
            raise forms.ValidationError("a model name has at most 256 characters")
        return sorted(set(names))


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "any status"), *Delivery.STATUSES], required=False)
    page = forms.IntegerField(min_value=1, required=False)
