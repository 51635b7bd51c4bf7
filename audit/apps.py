from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from . import receivers, tasks  # noqa: F401 - registers the tree-head task

        user_logged_in.connect(receivers.record_login, dispatch_uid="audit.record_login")
        user_login_failed.connect(receivers.record_login_failed, dispatch_uid="audit.record_login_failed")
