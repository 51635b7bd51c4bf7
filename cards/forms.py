from django import forms

from .profiles import PROFILE_CHOICES
from .sections import SECTION_MAX_CHARS


class SectionTextField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(
            required=False,
            strip=False,
            max_length=SECTION_MAX_CHARS,
            widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "true"}),
            **kwargs,
        )
        self.error_messages["max_length"] = (
            f"Keep a section under {SECTION_MAX_CHARS:,} characters (this one has %(show_value)s)."
        )


class SectionForm(forms.Form):
    text = SectionTextField(label="Markdown")
    summary = forms.CharField(
        max_length=200, help_text="What changed, in a few words (shown in the history).", label="Summary of changes"
    )
    base_revision = forms.IntegerField(required=False, widget=forms.HiddenInput)


class PreviewForm(forms.Form):
    text = SectionTextField()


class ProfileForm(forms.Form):
    profile = forms.ChoiceField(
        choices=PROFILE_CHOICES,
        label="Profile",
        help_text="What the card must cover to count as complete; changing it saves a revision with the same text.",
    )
