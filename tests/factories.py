"""The one test toolkit's builders: mirror rows as sync writes them, card revisions, transition requests.

The mirror is ours, so tests that need no MLflow behaviour build its rows straight with the ORM; tests that
do need it write to a real store (``registry.tests.mlflow_helpers.MlflowWorld``) and sync. The ``make_*``
functions build bare rows with fixed timestamps (pages show exactly what a test gave them); ``Mirror`` (the
``mirror`` fixture) builds on them a version ready for review: numbered after the model's last one, with a
finished run, an accuracy, ``GOOD_TAGS`` and a training dataset, and the move into Staging recorded.
The people are the root conftest's personas; the models these builders make belong to ``OWNER``, the
``owner`` persona.
"""

import datetime as dt
import itertools

from django.utils import timezone

from approvals import services as approval_services
from approvals.models import TransitionRequest
from cards import selectors as card_selectors
from cards import services as card_services
from cards.completeness import sections_completeness
from cards.models import CardRevision, ModelCard
from cards.sections import REQUIRED_SECTIONS
from registry.models import (
    Dataset,
    LoggedModel,
    ModelOwner,
    ModelRename,
    ModelVersion,
    RegisteredModel,
    Run,
    RunInput,
    StageChange,
    SyncRun,
)
from registry.sync.write import commit_key

OWNER = "olga-owner"
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
# A run that passes the default policy's provenance checks: a commit and a dataset version.
GOOD_TAGS = {"mlflow.source.git.commit": "abc123", "dataset_version": "v12"}
_ids = itertools.count(1)


# --- mirror rows --------------------------------------------------------------------------------


def person(username: str):
    """The user ``username``, made (with an address) on first use: a factory's owner and the root conftest's
    persona of that name are one user, whichever comes first."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})[0]


def make_owner(model: RegisteredModel | str, owner) -> ModelOwner:
    """Make ``owner`` (a user, a user name, or a ``Group``) a portal owner of ``model`` (a row or a name), as an
    admin does on the roles page (the row only; the audited way is ``registry.services.model_owner_add``)."""
    from django.contrib.auth.models import Group

    if isinstance(model, str):
        model = RegisteredModel.objects.get(name=model)
    if isinstance(owner, Group):
        return ModelOwner.objects.get_or_create(model=model, group=owner)[0]
    user = person(owner) if isinstance(owner, str) else owner
    return ModelOwner.objects.get_or_create(model=model, user=user)[0]


def make_model(
    name="Churn", *, owner=OWNER, owner_tag="", description="", tags=None, aliases=None, **fields
) -> RegisteredModel:
    """A model owned in the portal by ``owner`` (a user name, a user or a ``Group``; ``None`` or "" for nobody).
    ``owner_tag``: MLflow's ``owner`` tag only (a suggestion, it grants nothing). ``fields``: any other column,
    e.g. ``sync_error`` and ``stale_since``."""
    model = RegisteredModel.objects.create(
        name=name,
        owner_tag=owner_tag,
        description=description,
        tags={**({"owner": owner_tag} if owner_tag else {}), **(tags or {})},
        aliases=aliases or {},
        created_at=T0,
        updated_at=T0,
        **fields,
    )
    if owner:
        make_owner(model, owner)
    return model


def make_dataset(name="churn-data", digest="d1g3st01", **fields) -> Dataset:
    """The dataset ``name``@``digest``, made once: runs that log the same data share its row, as in sync."""
    defaults = {
        "source_type": "local",
        "source": f"/data/{name}.csv",
        "schema": '{"mlflow_colspec": [{"type": "double", "name": "x", "required": true}]}',
        **fields,
    }
    return Dataset.objects.get_or_create(name=name, digest=digest, defaults=defaults)[0]


def use_dataset(run, dataset, context="training") -> RunInput:
    return RunInput.objects.create(run=run, dataset=dataset, context=context)


def make_run(*, metrics=None, params=None, tags=None, commit="", experiment="churn-exp", datasets=(), **fields) -> Run:
    """A finished run. ``commit`` is the ``mlflow.source.git.commit`` tag (or the one in ``tags``), exactly; as in
    sync, only a hex hash becomes the ``git_commit`` lineage key. ``datasets``: ``(name, digest[, context])``
    or Dataset rows it logged (context "training" unless given). ``fields``: any other column
    (``lifecycle_stage``, ``gone``...)."""
    tags = {**(tags or {}), **({"mlflow.source.git.commit": commit} if commit else {})}
    run_id = f"run{next(_ids):029d}"
    run = Run.objects.create(
        run_id=run_id,
        experiment_id="1",
        experiment_name=experiment,
        run_name=f"run-{run_id[-4:]}",
        user="alice",
        status="FINISHED",
        start_time=T0,
        end_time=T0 + dt.timedelta(minutes=3),
        metrics=metrics or {},
        params=params or {},
        tags=tags,
        git_commit=commit_key(tags.get("mlflow.source.git.commit", "")),
        source_name="train.py",
        **fields,
    )
    for logged in datasets:
        if isinstance(logged, Dataset):
            use_dataset(run, logged)
        else:
            name, digest, *context = logged
            use_dataset(run, make_dataset(name, digest), *context)
    return run


def next_number(model) -> int:
    """The number MLflow gives the next version of ``model``: one after its last."""
    return (model.versions.order_by("-version").values_list("version", flat=True).first() or 0) + 1


def make_version(
    model,
    version=None,
    *,
    stage="None",
    aliases=(),
    run=None,
    with_run=True,
    status="READY",
    status_message="",
    logged_model=None,
    version_tags=None,
    **run_fields,
) -> ModelVersion:
    """Version ``version`` of ``model`` (None: the one after its last), with a run of its own made from
    ``run_fields`` (see ``make_run``) unless given ``run`` or ``with_run=False``."""
    if version is None:
        version = next_number(model)
    if run is None and with_run:
        run = make_run(**run_fields)
    return ModelVersion.objects.create(
        model=model,
        version=version,
        stage=stage,
        aliases=list(aliases),
        status=status,
        status_message=status_message,
        run=run,
        logged_model=logged_model,
        tags=version_tags or {},
        source=f"models:/{logged_model.model_id if logged_model else f'm-{version}'}",
        created_at=T0 + dt.timedelta(hours=version),
        updated_at=T0 + dt.timedelta(hours=version),
    )


def make_logged_model(*, metrics=None, params=None, metric_datasets=None, source_run_id="") -> LoggedModel:
    return LoggedModel.objects.create(
        model_id=f"m-{next(_ids):032x}",
        experiment_id="1",
        name="model",
        source_run_id=source_run_id,
        status="READY",
        metrics=metrics or {},
        params=params or {},
        metric_datasets=metric_datasets or {},
        created_at=T0,
        updated_at=T0,
    )


def make_sync(status=SyncRun.SUCCEEDED, *, finished_at=T0, model_name="", failures=None) -> SyncRun:
    return SyncRun.objects.create(
        status=status, model_name=model_name, failures=failures or {}, finished_at=finished_at
    )


def rename(old_name, new_name, model=None) -> ModelRename:
    return ModelRename.objects.create(old_name=old_name, new_name=new_name, model=model)


def stage_change(model_name, version, from_value, to_value, *, at, kind="stage", alias="") -> StageChange:
    change = StageChange.objects.create(
        model_name=model_name,
        version=version,
        kind=kind,
        alias=alias,
        from_value=from_value,
        to_value=to_value,
        mlflow_timestamp=at if kind == "stage" else None,
    )
    if kind == "alias":
        # Alias moves carry no MLflow timestamp: their time is when sync saw them.
        StageChange.objects.filter(pk=change.pk).update(seen_at=at)
        change.refresh_from_db()
    return change


def version_of(model_name: str, number: int) -> ModelVersion:
    """A mirrored version as the portal's pages and services read it (model and run selected)."""
    return ModelVersion.objects.select_related("model", "run").get(model__name=model_name, version=number)


class Mirror:
    """Versions ready for review, for rule, request and card tests (the ``mirror`` fixture)."""

    DATASETS = (("churn-data", "d1g3st"),)

    def model(self, name="Churn", owner=OWNER) -> RegisteredModel:
        """The model ``name``, made on first use."""
        return RegisteredModel.objects.filter(name=name).first() or make_model(name, owner=owner)

    def version(
        self,
        name="Churn",
        number=None,
        *,
        owner=OWNER,
        stage="None",
        metrics=None,
        tags=None,
        datasets=DATASETS,
        entered_staging=None,
        **fields,
    ) -> ModelVersion:
        """The next version of ``name`` (or ``number``). Its run has ``metrics`` (accuracy 0.93 unless given),
        run ``tags`` (``GOOD_TAGS`` unless given) and ``datasets``: ``(name, digest[, context])`` tuples, or a
        count of datasets of their own (digests unique to the version; training, evaluation, training...).
        A version in Staging (or given ``entered_staging``) has its move from None recorded, as sync records
        it. ``fields``: ``make_version``'s and ``make_run``'s (``params``, ``version_tags``, ``with_run``...)."""
        model = self.model(name, owner)
        number = number or next_number(model)
        if isinstance(datasets, int):
            datasets = [
                (f"churn-data-{n}", f"d{number}{n:04d}", "training" if n % 2 == 0 else "evaluation")
                for n in range(datasets)
            ]
        make_version(
            model,
            number,
            stage=stage,
            metrics={"accuracy": 0.93} if metrics is None else metrics,
            tags=dict(GOOD_TAGS) if tags is None else tags,
            datasets=datasets,
            **fields,
        )
        if stage == "Staging" or entered_staging:
            stage_change(name, number, "None", "Staging", at=entered_staging or timezone.now())
        return version_of(name, number)


# --- model cards ------------------------------------------------------------------------------


def complete_sections() -> dict:
    """Every required section of a card, written."""
    return {section.key: f"{section.title} written." for section in REQUIRED_SECTIONS}


def write_card(version: ModelVersion, sections: dict, author=OWNER) -> CardRevision:
    """A card revision stored as the cards app stores it, without its service (no audit, nothing to publish)."""
    card = ModelCard.objects.for_version(version).first() or ModelCard.objects.create(
        model_name=version.model.name, version=version.version, run_id=version.run_id or "", model_version=version
    )
    completeness = sections_completeness(sections)
    number = (card.revisions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    return CardRevision.objects.create(
        card=card,
        number=number,
        author=author,
        summary="test",
        sections=sections,
        complete=completeness.complete,
        percent=completeness.percent,
    )


def card_save(actor, version: ModelVersion, changes: dict, summary="s", *, capture=None) -> CardRevision:
    """Save card sections as an editor does, through the service, on top of the latest revision. ``capture``
    (``django_capture_on_commit_callbacks``) runs what it queues on commit: the publication to MLflow."""
    latest = card_selectors.card_revision_latest(version)

    def create():
        return card_services.card_revision_create(
            actor=actor,
            version=version,
            changes=changes,
            base_revision_id=latest.pk if latest else None,
            summary=summary,
        )

    return _committed(create, capture)


# --- transition requests ----------------------------------------------------------------------


def file_request(
    actor, version: ModelVersion, to_stage="Production", *, justification="beats v1 on accuracy", capture=None
) -> TransitionRequest:
    """File a request through the service. ``capture`` (``django_capture_on_commit_callbacks``) runs what it
    queues on commit, its check run included; without it the check run stays queued."""

    def create():
        return approval_services.transition_request_create(
            actor=actor, version=version, to_stage=to_stage, justification=justification
        )

    return _committed(create, capture)


def _committed(create, capture):
    """``create()``, and with ``capture`` what it queued on commit run too (a test transaction never commits)."""
    if capture is None:
        return create()
    with capture(execute=True):
        return create()


# --- notifications ----------------------------------------------------------------------------


def deliver_notifications() -> None:
    """What the worker does after a change: the dispatch task (default subscriptions, cursors, deliveries) and
    the delivery task of every subscription with something due, in-process. Mails land in ``mail.outbox``."""
    from notifications import tasks
    from notifications.models import Delivery

    tasks.dispatch_notifications.apply()
    for pk in sorted(set(Delivery.objects.open().values_list("subscription_id", flat=True))):
        tasks.deliver_subscription.apply(args=(pk,))
