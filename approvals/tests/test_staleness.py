"""A CheckRun describes the content it judged: a card revision or new run data makes it stale, and the
changes that set it off (a card save, a sync) queue a fresh run. Real MLflow store, real sync."""

import pytest

from approvals import services, tasks
from approvals.digest import version_content_digest
from approvals.models import CheckRun
from registry.models import ModelVersion, SyncRun
from registry.sync import sync_registry
from registry.tests.mlflow_helpers import frame
from tests.factories import GOOD_TAGS, complete_sections, version_of, write_card

pytestmark = pytest.mark.django_db


@pytest.fixture
def checked(mlflow_store, owner, django_capture_on_commit_callbacks):
    """A synced Churn v1 in Staging, with an unfinished run (so sync re-reads it), checked once."""
    world = mlflow_store
    run_id = world.create_run(
        metrics={"accuracy": 0.93}, tags=GOOD_TAGS, dataset=("churn-data", frame()), finished=False
    )
    number = world.create_version("Churn", run_id, stage="Staging")
    sync_registry()
    version = version_of("Churn", number)
    with django_capture_on_commit_callbacks(execute=True):
        check_run = services.check_run_create(version=version, stage="Production", actor="system:worker")
    check_run.refresh_from_db()
    assert check_run.is_done and not check_run.is_stale
    return world, version, run_id, check_run


def sync(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sync_registry()


def is_stale(check_run) -> bool:
    return CheckRun.objects.get(pk=check_run.pk).is_stale


def latest(version) -> CheckRun:
    return CheckRun.objects.latest_for(version)


def test_new_run_data_makes_the_check_run_stale_and_the_sync_rechecks(checked, django_capture_on_commit_callbacks):
    world, version, run_id, check_run = checked
    world.client.log_metric(run_id, "accuracy", 0.81)
    sync(django_capture_on_commit_callbacks)

    assert is_stale(check_run)
    fresh = latest(version)
    assert fresh.pk != check_run.pk
    assert (fresh.stage, fresh.requested_by, fresh.status) == ("Production", "system:worker", CheckRun.FAILED)
    assert not is_stale(fresh)
    assert fresh.results.get(rule_id="accuracy").message == "accuracy = 0.81, needs >= 0.9"


def test_a_changed_version_tag_makes_it_stale(checked, django_capture_on_commit_callbacks):
    world, version, _, check_run = checked
    world.client.set_model_version_tag("Churn", str(version.version), "dataset_version", "v13")
    sync(django_capture_on_commit_callbacks)
    assert is_stale(check_run)
    assert latest(version).content_digest == version_content_digest(ModelVersion.objects.get(pk=version.pk))


def test_a_new_card_revision_makes_it_stale_and_queues_a_check(checked, django_capture_on_commit_callbacks):
    _, version, _, check_run = checked
    with django_capture_on_commit_callbacks(execute=True):
        write_card(version, complete_sections())
    assert is_stale(check_run)
    fresh = latest(version)
    assert fresh.pk != check_run.pk
    assert fresh.results.get(rule_id="model-card").status == "passed"


def test_tags_the_portal_writes_and_stage_changes_do_not_make_it_stale(checked, django_capture_on_commit_callbacks):
    world, version, _, check_run = checked
    world.client.set_model_version_tag("Churn", str(version.version), "approval.approved_by", "rita,rob")
    world.transition("Churn", version.version, "Production")
    world.client.set_registered_model_alias("Churn", "champion", str(version.version))
    sync(django_capture_on_commit_callbacks)
    assert ModelVersion.objects.get(pk=version.pk).stage == "Production"
    assert not is_stale(check_run)
    assert latest(version).pk == check_run.pk


def test_a_sync_that_changed_nothing_queues_nothing(checked, django_capture_on_commit_callbacks):
    _, version, _, check_run = checked
    sync(django_capture_on_commit_callbacks)
    assert CheckRun.objects.filter(version=version).count() == 1


def test_after_a_sync_that_read_no_content_it_costs_one_query(checked, django_assert_num_queries):
    _, version, _, check_run = checked
    quiet = SyncRun.objects.create(status=SyncRun.SUCCEEDED, counts={"mlflow_calls": 2})
    with django_assert_num_queries(1):
        tasks.after_sync(quiet.pk)
    # Stage changes are read once, for out-of-band detection, and re-certifications of versions that left
    # Production are superseded (one conditional update), but they trigger no check run.
    moved = SyncRun.objects.create(status=SyncRun.SUCCEEDED, counts={"mlflow_calls": 2, "stage_changes": 1})
    with django_assert_num_queries(3):
        tasks.after_sync(moved.pk)
    busy = SyncRun.objects.create(status=SyncRun.SUCCEEDED, counts={"runs_fetched": 1})
    ModelVersion.objects.filter(pk=version.pk).update(tags={"dataset_version": "v99"})
    with django_assert_num_queries(1):
        tasks.after_sync(quiet.pk)
    tasks.after_sync(busy.pk)
    assert latest(version).pk != check_run.pk
