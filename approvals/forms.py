from django import forms

from .rules import STAGES


class StageForm(forms.Form):
    stage = forms.ChoiceField(choices=[(s, s) for s in STAGES], initial="Production", label="Target stage")
