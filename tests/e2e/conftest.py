"""Browser journeys: real Chromium (Debian's, never a downloaded one) driving the portal on pytest-django's
``live_server``, with a real Celery worker on Redis, the test database (PostgreSQL in CI) and a real
``mlflow server`` shared by the session. With ``PORTAL_E2E_STACK=prod-local`` the journeys drive the
production-like stack instead (``scripts/prod-local``: gunicorn, a Celery worker, beat; DEBUG off), started
once for the session on the test database (PostgreSQL only) and the same ``mlflow server``.

Each test gets a fresh database (``live_server`` is transactional) and seeds MLflow models of its own,
named uniquely, so tests never see each other's rows even though they share one MLflow server.
"""

import contextlib
import email.policy
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
AXE_JS = REPO / "static" / "vendor" / "axe-core" / "axe.min.js"
PASSWORD = "e2e-password-1"  # noqa: S105 - test users on a throwaway database
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# How long the browser waits for what a worker or htmx will show (checks, applies, publications).
WAIT_MS = 60_000
# Every page a journey opens reports what its Content-Security-Policy blocked (an inline script or style, an eval,
# an image from elsewhere) to the test, through a binding that outlives navigations; the test fails on any.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCspViolation({
    page: document.location.href,
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: `${event.sourceFile}:${event.lineNumber}`,
    sample: event.sample,
  });
});
"""
# "live-server" (default): live_server + live_worker in this process's orbit; "prod-local": scripts/prod-local.
E2E_STACK = os.environ.get("PORTAL_E2E_STACK", "live-server").strip() or "live-server"
FILE_EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"


def pytest_collection_modifyitems(config, items):
    """On the prod-local stack, leave out the journeys that reconfigure the portal from the test process (their
    settings cannot reach gunicorn and the worker); they run in the live-server step."""
    if E2E_STACK != "prod-local":
        return
    left_out = [item for item in items if item.get_closest_marker("live_server_only")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("live_server_only")]


def pytest_addoption(parser):
    parser.addoption(
        "--screenshots",
        action="store_true",
        default=False,
        help="browser journeys save their key pages to docs/screenshots/<name>.png",
    )


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            raise RuntimeError(f"CI must have Chromium at {CHROMIUM} (.ci/run installs it)")
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium to run the browser journeys")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; Django's ORM, called by the test between
    # browser steps, refuses to run beside a running loop unless told it is safe (it is: one thread, no awaits).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class Portal:
    """The running stack as a journey sees it: the server's URL, MLflow, the worker, browser sessions."""

    url: str
    world: object  # registry.tests.mlflow_helpers.MlflowWorld on the session's mlflow server
    worker: object
    browser: object
    screenshots: bool
    mail_dir: Path  # where the server's and the worker's file email backend writes what they send
    contexts: list = field(default_factory=list)
    csp_violations: list = field(default_factory=list)

    @property
    def mlflow(self):
        return self.world.client

    def page_for(self, user=None, viewport=LAPTOP):
        """A fresh browser context (its own cookie jar), signed in as ``user`` through its session cookie."""
        context = self.browser.new_context(base_url=self.url, viewport=viewport, accept_downloads=True)
        context.set_default_timeout(15_000)
        watch_csp_violations(context, self.csp_violations)
        self.contexts.append(context)
        if user is not None:
            from django.test import Client

            client = Client()
            client.force_login(user)
            cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
            context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": self.url}])
        return context.new_page()

    def sign_in(self, page, user):
        """Sign in through the real login form, with a password given to ``user`` first (which ends the sessions
        ``page_for`` opened for them before)."""
        user.set_password(PASSWORD)
        user.save()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{self.url}/")

    def sync(self):
        """What the beat schedule does every few minutes: one sync of the whole registry."""
        from registry.sync import sync_registry

        sync_run = sync_registry(trigger="e2e")
        assert sync_run.status == "succeeded", sync_run.error
        return sync_run

    def dispatch_notifications(self):
        """What beat does every NOTIFY_INTERVAL_SECONDS: on prod-local beat itself does it, here it is queued."""
        if E2E_STACK != "prod-local":
            from registry_portal.celery import queue_task

            queue_task("notifications.tasks.dispatch_notifications")

    def sent_mail(self) -> list:
        """Every email the portal has sent in this test, as ``email.message.EmailMessage``s, oldest first."""
        messages = []
        for path in sorted(self.mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime):
            # The file backend writes each message followed by a line of 79 dashes.
            for raw in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                if raw.strip():
                    messages.append(email.message_from_bytes(raw.lstrip(), policy=email.policy.default))
        return messages

    def shot(self, page, name: str, *, full_page: bool = False):
        if self.screenshots:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)

    def close(self):
        for context in self.contexts:
            for page in context.pages:
                with contextlib.suppress(PlaywrightError):  # a page mid-navigation has nothing left to report
                    page.evaluate("() => null")  # a round trip, so reports still in flight reach csp_violations
            context.close()


def watch_csp_violations(context, violations: list) -> None:
    """Collect every Content-Security-Policy violation in ``context``'s pages into ``violations``."""
    context.expose_binding("__reportCspViolation", lambda source, report: violations.append(report))
    context.add_init_script(CSP_LISTENER)


def describe_csp_violations(violations: list[dict]) -> str:
    return "\n".join(
        f"  {v['page']}: {v['directive']} blocked {v['blocked'] or '?'} at {v['source']} {v['sample']!r}"
        for v in violations
    )


@pytest.fixture
def shared_memory_db_waits(live_server, shared_memory_db_waits):
    """The root conftest's, once the live server shares the database too."""
    return shared_memory_db_waits


@pytest.fixture
def mail_dir(tmp_path):
    path = tmp_path / "mail"
    path.mkdir()
    return path


@pytest.fixture
def worker_env(mail_dir, live_server):
    """The live worker subprocess sends mail into the test's folder, as the live server does, linking to it."""
    return {"EMAIL_BACKEND": FILE_EMAIL_BACKEND, "EMAIL_FILE_PATH": str(mail_dir), "PORTAL_URL": live_server.url}


class ProdLocalStack:
    """``scripts/prod-local`` in a process of its own, on a free port, pointed at the session's test database,
    ``mlflow server`` and broker. Its worker consumes Celery's default queue on that broker."""

    def __init__(self, root: Path, env: dict):
        from conftest import free_port

        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mail_dir = root / "mail"
        self.mail_dir.mkdir()
        self.secret_key = secrets.token_urlsafe(50)
        self.env = {
            **os.environ,
            "SECRET_KEY": self.secret_key,
            "EMAIL_BACKEND": FILE_EMAIL_BACKEND,
            "EMAIL_FILE_PATH": str(self.mail_dir),
            # Beat's syncs would mirror every earlier test's models into this test's database: the journeys
            # sync themselves (Portal.sync); beat still dispatches notifications and runs the sweepers.
            "SYNC_INTERVAL_SECONDS": "3600",
            "RECONCILE_INTERVAL_SECONDS": "3600",
            **env,
        }
        self.log = root / "prod-local.log"
        self.process = None

    def start(self, timeout: float = 180):
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(REPO / "scripts" / "prod-local"),
                    "--port",
                    str(self.port),
                    "--var-dir",
                    str(self.root / "var"),
                ],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while "prod-local: ready at" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prod-local did not start:\n{self.logs()}")
            time.sleep(0.5)
        return self

    def logs(self) -> str:
        parts = [self.log.read_text()[-3000:]]
        for path in sorted((self.root / "var" / "log").glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def stop(self):
        """SIGTERM: the script stops gunicorn, the worker and beat itself."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def prod_local(django_db_setup, django_db_blocker, mlflow_server, broker_url, tmp_path_factory):
    from django.db import connection

    from conftest import database_url

    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            raise pytest.UsageError("PORTAL_E2E_STACK=prod-local needs PostgreSQL: set DATABASE_URL=postgres://...")
        stack = ProdLocalStack(
            tmp_path_factory.mktemp("prod-local"),
            {
                "DATABASE_URL": database_url(connection.settings_dict),
                "CELERY_BROKER_URL": broker_url,
                "MLFLOW_TRACKING_URI": mlflow_server.url,
            },
        )
    stack.start()
    yield stack
    stack.stop()


def prod_local_worker_log(stack: ProdLocalStack):
    from conftest import LiveWorker

    # Polling and its log (the tasks it ran) are what journeys use of a worker; it cannot be killed from here.
    return LiveWorker(log=stack.root / "var" / "log" / "worker.log")


@pytest.fixture
def portal(request, browser, mlflow_remote, transactional_db, settings):
    # mlflow_remote comes before live_worker: the worker subprocess takes its MLFLOW_TRACKING_URI. transactional_db
    # is named here, not asked for below: the personas' ``db`` must know the test commits (the servers see it).
    if E2E_STACK == "prod-local":
        from conftest import reset_producers
        from registry_portal.celery import app

        stack = request.getfixturevalue("prod_local")
        url, worker, mail_dir = stack.url, prod_local_worker_log(stack), stack.mail_dir
        for old in mail_dir.iterdir():
            old.unlink()
        # Sessions made here (force_login) are signed with the stack's key; tasks queued here go to its worker.
        settings.SECRET_KEY = stack.secret_key
        saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
        app.conf.update(broker_url=stack.env["CELERY_BROKER_URL"], task_always_eager=False)
        reset_producers(app)
        request.addfinalizer(lambda: (app.conf.update(saved), reset_producers(app)))
    elif E2E_STACK == "live-server":
        mail_dir = request.getfixturevalue("mail_dir")
        worker = request.getfixturevalue("live_worker")
        url = request.getfixturevalue("live_server").url
        request.getfixturevalue("shared_memory_db_waits")
    else:
        raise pytest.UsageError(f"PORTAL_E2E_STACK must be live-server or prod-local, got {E2E_STACK!r}")
    settings.PORTAL_URL = url
    settings.EMAIL_BACKEND = FILE_EMAIL_BACKEND
    settings.EMAIL_FILE_PATH = str(mail_dir)
    portal = Portal(
        url=url,
        world=mlflow_remote,
        worker=worker,
        browser=browser,
        screenshots=request.config.getoption("--screenshots"),
        mail_dir=mail_dir,
    )
    yield portal
    portal.close()
    assert not portal.csp_violations, "the Content-Security-Policy blocked something:\n" + describe_csp_violations(
        portal.csp_violations
    )


def training_frame(seed: int):
    import pandas as pd

    return pd.DataFrame({"tenure": [float(i + seed) for i in range(30)], "churned": [i % 2 for i in range(30)]})


@dataclass
class SeededModel:
    """A model as a team would have it: v1 in Production, v2 (better) and v3 (worse) in Staging, one dataset."""

    name: str
    dataset: str
    commit: str
    versions: dict  # number -> accuracy


def seed_model(world, owner_username: str) -> SeededModel:
    name = f"churn-{uuid.uuid4().hex[:6]}"
    dataset = f"customers-{uuid.uuid4().hex[:6]}"
    commit = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    world.client.create_registered_model(
        name, tags={"owner": owner_username, "team": "retention"}, description="Predicts churn for next month."
    )
    # A frame of this model's own: the dataset's digest (its identity in lineage) is unique to this test.
    frame = training_frame(uuid.uuid4().int % 10_000)
    accuracies = {1: 0.91, 2: 0.94, 3: 0.86}
    stages = {1: "Production", 2: "Staging", 3: "Staging"}
    for number, accuracy in accuracies.items():
        run_id = world.create_run(
            metrics={"accuracy": accuracy, "f1": accuracy - 0.03},
            params={"model_type": "logistic_regression", "C": str(number)},
            tags={
                "mlflow.source.git.commit": commit,
                "dataset_version": "2024-06",
                "mlflow.runName": f"train-v{number}",
            },
            dataset=(dataset, frame),
        )
        world.create_version(name, run_id, stage=stages[number])
    return SeededModel(name=name, dataset=dataset, commit=commit, versions=accuracies)


@pytest.fixture
def seeded(portal, owner):
    from tests.factories import make_owner

    model = seed_model(portal.world, owner.username)
    portal.sync()
    make_owner(model.name, owner)  # the tag is only a suggestion: the portal's owner is assigned (docs/roles.md)
    return model


COMPLETE_CARD = {
    "intended_use": "**Primary use:** monthly churn risk.\n\n**Primary users:** retention team.\n\n"
    "**Out-of-scope uses:** credit decisions.",
    "factors": "**Relevant factors:** region, tenure.\n\n**Evaluation factors:** region.",
    "training_data": "**Time period:** 2023-01 to 2024-06.\n\n**Preprocessing:** deduplicated.",
    "evaluation_data": "**Datasets and why they were chosen:** held-out month.\n\n**Preprocessing:** as training.",
    "performance_metrics": "**Why these metrics, decision thresholds:** accuracy at 0.5.",
    "fairness_bias": "**Protected attributes:** none used.\n\n**Bias metrics:** parity by region.\n\n"
    "**Mitigation:** reweighting.",
    "limitations": "Weak on customers younger than a month.",
    "ethical_considerations": "Scores never shown to customers.",
    "caveats_recommendations": "Retrain monthly.",
}


def file_request_in_browser(page, model_name: str, number: int, to_stage: str, justification: str) -> str:
    """File a request with the form on the version page; returns the new request page's path."""
    page.goto(f"/models/{model_name}/versions/{number}/")
    panel = page.locator("#request-panel")
    panel.get_by_label("Target stage").select_option(to_stage)
    panel.get_by_label("Justification").fill(justification)
    panel.get_by_role("button", name="Request transition").click()
    page.wait_for_url(re.compile(r"/approvals/requests/\d+/$"))
    return urlsplit(page.url).path


def axe_violations(page, *, impacts=("serious", "critical")) -> list[dict]:
    """axe-core's violations of the given impacts on the page as it is now."""
    # Evaluated, not added as a <script>: an inline script is what the Content-Security-Policy forbids.
    page.evaluate(AXE_JS.read_text())
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [v for v in results["violations"] if v.get("impact") in impacts]


def describe_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:8]:
            lines.append(f"    {' '.join(node['target'])}: {node.get('failureSummary', '').splitlines()[-1].strip()}")
            lines.append(f"      {node['html'][:200]}")
    return "\n".join(lines)


def assert_accessible(page, where: str):
    violations = axe_violations(page)
    assert not violations, f"axe-core found serious/critical violations on {where} ({page.url}):\n" + (
        describe_violations(violations)
    )
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(el => el.type !== 'hidden' && !el.closest('[hidden]'))
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.getAttribute('aria-labelledby') && !el.getAttribute('title'))
            .map(el => el.outerHTML.slice(0, 160))"""
    )
    assert not unlabelled, f"form controls without a label on {where} ({page.url}):\n" + "\n".join(unlabelled)
