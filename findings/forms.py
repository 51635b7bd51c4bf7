from django import forms
from django.contrib.auth import get_user_model

from cards.sections import SECTIONS

from .models import SEVERITIES, Finding

SEVERITY_CHOICES = [(s, s) for s in SEVERITIES]
STATUS_FILTERS = [("", "any"), ("unresolved", "unresolved (open or remediated)"), *Finding.STATUS_CHOICES]


def _active_user(username: str):
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise forms.ValidationError(f"no active user {username!r}")
    return user


class DateInput(forms.DateInput):
    input_type = "date"


class FindingOpenForm(forms.Form):
    title = forms.CharField(max_length=200)
    severity = forms.ChoiceField(choices=SEVERITY_CHOICES, initial="high")
    category = forms.ChoiceField(choices=Finding.CATEGORY_CHOICES, initial="validation_issue")
    owner = forms.CharField(max_length=150, label="Owner (username)", help_text="who works it to remediated")
    due_date = forms.DateField(required=False, widget=DateInput)
    description = forms.CharField(
        required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 4}), help_text="Markdown"
    )
    card_section = forms.ChoiceField(
        required=False,
        label="Card section",
        choices=[("", "—"), *((s.key, s.title) for s in SECTIONS)],
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "finding_%s")  # unique beside the version page's other forms
        super().__init__(*args, **kwargs)

    def clean_owner(self):
        return _active_user(self.cleaned_data["owner"].strip())


class RemediateForm(forms.Form):
    notes = forms.CharField(label="Remediation notes", max_length=20_000, widget=forms.Textarea(attrs={"rows": 3}))


class CarryOverForm(forms.Form):
    from_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    finding_ids = forms.TypedMultipleChoiceField(coerce=int, label="Findings that still apply")

    def __init__(self, *args, candidates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["finding_ids"].choices = [(f.pk, f"#{f.pk} {f.title}") for f in candidates]


class FindingFilterForm(forms.Form):
    severity = forms.ChoiceField(required=False, label="Severity (at least)", choices=[("", "any"), *SEVERITY_CHOICES])
    status = forms.ChoiceField(required=False, choices=STATUS_FILTERS)
    overdue = forms.BooleanField(required=False, label="Overdue only")
    owner = forms.CharField(required=False, max_length=150, label="Owner (username)")
    model = forms.CharField(required=False, max_length=256)

    def clean_owner(self):
        username = self.cleaned_data["owner"].strip()
        return _active_user(username) if username else None
