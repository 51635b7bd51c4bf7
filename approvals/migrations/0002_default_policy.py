"""A fresh install enforces the default policy (``manage.py policy reset-default`` recreates it)."""

from django.db import migrations


def create_default_policy(apps, schema_editor):
    from approvals.policies import DEFAULT_DESCRIPTION, DEFAULT_RULES
    from approvals.rules import validate_stages

    Policy = apps.get_model("approvals", "Policy")
    if not Policy.objects.filter(model_name="").exists():
        Policy.objects.create(
            model_name="", description=DEFAULT_DESCRIPTION, rules=validate_stages(DEFAULT_RULES), updated_by="install"
        )


class Migration(migrations.Migration):
    dependencies = [("approvals", "0001_initial")]

    operations = [migrations.RunPython(create_default_policy, migrations.RunPython.noop)]
