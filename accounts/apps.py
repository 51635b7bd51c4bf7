from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_login_failed

        from . import receivers, tasks  # noqa: F401 - tasks: registers the beat task's name in web processes too

        user_login_failed.connect(receivers.note_login_failed, dispatch_uid="accounts.note_login_failed")
        user_locked_out.connect(receivers.note_locked_out, dispatch_uid="accounts.note_locked_out")
