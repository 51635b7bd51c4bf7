"""Query-string forms of the review pages: they turn bad input into a message, never into a 500."""

import re

from django import forms

from .models import STAGES

STAGE_CHOICES = [("", "any stage"), *[(s, s) for s in STAGES]]
SORT_PATTERN = re.compile(r"^-?(version|created|stage|metric:.{1,250})$")
DEFAULT_SORT = "-version"


class ModelFilterForm(forms.Form):
    q = forms.CharField(label="Name", required=False, max_length=255)
    stage = forms.ChoiceField(label="Has a version in", choices=STAGE_CHOICES, required=False)
    alias = forms.CharField(label="Alias", required=False, max_length=255)
    tag = forms.CharField(
        label="Tag", required=False, max_length=500, help_text="key, or key=value", widget=forms.TextInput()
    )
    owner = forms.CharField(label="Owner", required=False, max_length=255)

    def clean_tag(self):
        tag = self.cleaned_data["tag"]
        if tag.startswith("="):
            raise forms.ValidationError("Write the tag as key or key=value.")
        return tag

    def filters(self) -> dict:
        """Keyword arguments for ``model_list_for_user``: an invalid field is left out (its error is shown)."""
        data = getattr(self, "cleaned_data", {})
        return {
            "query": data.get("q", ""),
            "stage": data.get("stage", ""),
            "alias": data.get("alias", ""),
            "tag": data.get("tag", ""),
            "owner": data.get("owner", ""),
        }


class VersionTableForm(forms.Form):
    sort = forms.CharField(required=False, max_length=260)
    chart = forms.CharField(label="Chart metric", required=False, max_length=250)

    def clean_sort(self):
        sort = self.cleaned_data["sort"] or DEFAULT_SORT
        if not SORT_PATTERN.match(sort):
            raise forms.ValidationError(
                "Sort by version, created, stage or metric:<name> (prefix - to reverse); showing newest first."
            )
        return sort

    @property
    def ordering(self) -> str:
        return getattr(self, "cleaned_data", {}).get("sort") or DEFAULT_SORT


class ReverseLineageForm(forms.Form):
    stage = forms.ChoiceField(label="Stage", choices=STAGE_CHOICES, required=False)


class LineageSearchForm(forms.Form):
    q = forms.CharField(label="Dataset name, digest or commit", required=True, max_length=255, strip=True, min_length=2)
