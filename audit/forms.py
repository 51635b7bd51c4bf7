from django import forms

from .services import ACTIONS


class AuditFilterForm(forms.Form):
    model = forms.CharField(required=False, max_length=255, help_text="exact model name")
    version = forms.IntegerField(required=False, min_value=1)
    actor = forms.CharField(required=False, max_length=150, help_text="exact, e.g. alice or system:sync")
    action = forms.ChoiceField(required=False, choices=[("", "any action"), *((a, a) for a in ACTIONS)])
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    format = forms.ChoiceField(
        required=False, choices=[("", "page"), ("csv", "CSV"), ("jsonl", "JSON Lines")], widget=forms.HiddenInput
    )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        if cleaned.get("version") is not None and not cleaned.get("model"):
            self.add_error("version", "Choose a model to filter by version.")
        return cleaned
