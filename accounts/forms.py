from django import forms

from .access import MANAGED_ROLES

MAX_EXPIRY_DAYS = 3650


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="what will use it, e.g. the training pipeline")
    expires_in_days = forms.IntegerField(
        label="Expires in (days)",
        required=False,
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        help_text="empty: never expires",
    )


class _UserField(forms.CharField):
    """A user name that must name a user: a clear form error otherwise."""

    def clean(self, value):
        from django.contrib.auth import get_user_model

        name = super().clean(value)
        if not name:
            return None
        user = get_user_model().objects.filter(username=name).first()
        if user is None:
            raise forms.ValidationError(f"No user named {name!r}.")
        return user


class RoleMemberForm(forms.Form):
    """Add ``user`` to, or remove them from, ``role`` (one of ``access.MANAGED_ROLES``)."""

    user = _UserField(max_length=150, label="User name")
    role = forms.ChoiceField(choices=[(role, role) for role in MANAGED_ROLES])


class ModelOwnerForm(forms.Form):
    """Make a user or a group (exactly one) an owner of the model named ``model``."""

    model = forms.CharField(max_length=256, label="Model")
    user = _UserField(max_length=150, required=False, label="User name")
    group = forms.CharField(max_length=150, required=False, label="or group")

    def clean_model(self):
        from registry.models import RegisteredModel

        name = self.cleaned_data["model"]
        model = RegisteredModel.objects.filter(name=name).first()
        if model is None:
            raise forms.ValidationError(f"No model named {name!r} in the mirror.")
        return model

    def clean_group(self):
        from django.contrib.auth.models import Group

        name = self.cleaned_data["group"].strip()
        if not name:
            return None
        group = Group.objects.filter(name=name).first()
        if group is None:
            raise forms.ValidationError(f"No group named {name!r}.")
        return group

    def clean(self):
        data = super().clean()
        if not self.errors and (data.get("user") is None) == (data.get("group") is None):
            raise forms.ValidationError("Name a user or a group (one of them).")
        return data


class ModelNameForm(forms.Form):
    model = forms.CharField(max_length=256)

    clean_model = ModelOwnerForm.clean_model
