from celery import shared_task

from . import services


@shared_task(name="accounts.tasks.count_login_failures", ignore_result=True)
def count_login_failures() -> int:
    """Beat, every minute: the exact count of each closed window of failed sign-ins (``auth.login_failures``)."""
    return services.login_failures_count()
