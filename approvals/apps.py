from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # receivers connects the signal receivers; tasks registers the tasks services queue by name
        # (``registry_portal.celery.queue_task``: in-process, with no broker, a signature needs its task registered).
        from . import panels, receivers, rules_findings, tasks  # noqa: F401

        panels.register()

        from registry import api_extras

        from . import api

        api_extras.register("open_request", api.open_request_extra)
        api_extras.register("latest_check_run", api.latest_check_run_extra)
        api_extras.register("risk_tier", api.risk_tier_extra)
        api_extras.register("recertification", api.recertification_extra)
        api_extras.register("waivers", api.waivers_extra)
        api_extras.register_model("risk_tier", api.model_risk_tier_extra)
        api_extras.register("reverts", api.reverts_extra)

        from notifications import digests

        from .selectors import waiting_digest_lines

        digests.register("Waiting for your review", waiting_digest_lines)
