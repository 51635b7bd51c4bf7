
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('registry', '0005_mirrored_since'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='SyncCooldown',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('scope', models.CharField(max_length=256, unique=True)),
                ('requested_at', models.DateTimeField()),
            ],
        ),
        # The tag's value stays (as a suggestion); no row becomes a portal owner here: an admin decides, on the
        # roles page or with ``manage.py adopt_owner_tags`` (audited). See docs/roles.md, "Upgrading".
        migrations.RenameField(
            model_name='registeredmodel',
            old_name='owner',
            new_name='owner_tag',
        ),
        migrations.AddField(
            model_name='registeredmodel',
            name='owner_tag_flagged_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='registeredmodel',
            name='owner_tag_previous',
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.CreateModel(
            name='ModelOwner',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('added_by', models.CharField(blank=True, max_length=150)),
                ('added_at', models.DateTimeField(auto_now_add=True)),
                ('group', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='auth.group')),
                ('model', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='owners', to='registry.registeredmodel')),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['model', 'id'],
                'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('group__isnull', True), ('user__isnull', False)), models.Q(('group__isnull', False), ('user__isnull', True)), _connector='OR'), name='model_owner_user_xor_group'), models.UniqueConstraint(fields=('model', 'user'), name='model_owner_user_unique'), models.UniqueConstraint(fields=('model', 'group'), name='model_owner_group_unique')],
            },
        ),
    ]
