from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from . import receivers, tasks  # noqa: F401 - registers the tree-head task

        user_logged_in.connect(receivers.record_login, dispatch_uid="audit.record_login")
