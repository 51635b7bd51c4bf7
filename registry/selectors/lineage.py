"""Reverse lineage (every version trained from a dataset or a commit) and the lineage search."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.http import Http404
from django.shortcuts import get_object_or_404

from ..models import Dataset, ModelVersion, RegisteredModel, Run, RunInput

REVERSE_PER_PAGE = 50
SEARCH_LIMIT = 20
MIN_COMMIT_PREFIX = 4


def _versions_of_runs(user, runs) -> object:
    """Visible versions whose run is in ``runs`` (a query of Run rows), newest model activity first."""
    return (
        ModelVersion.objects.filter(
            model__in=RegisteredModel.objects.visible_to(user), run_id__in=runs.values("run_id")
        )
        .select_related("model", "run")
        .defer("description", "tags", "source", "run__params", "run__metrics", "run__tags")
        # The commit exactly as MLflow holds it, without reading every run's tags.
        .annotate(run_commit=Cast(KeyTextTransform("mlflow.source.git.commit", "run__tags"), TextField()))
        .order_by("model__name", "-version")
    )


@dataclass
class ReverseLineage:
    """Every version trained from a dataset digest or a commit, with a count per stage."""

    page: Page
    stage_counts: dict[str, int]
    stage: str


def _reverse_lineage(versions, *, stage: str, page_number) -> ReverseLineage:
    counts = dict(versions.order_by().values("stage").annotate(n=Count("pk")).values_list("stage", "n"))
    if stage:
        versions = versions.filter(stage=stage)
    page = Paginator(versions, REVERSE_PER_PAGE).get_page(page_number)
    return ReverseLineage(page=page, stage_counts=counts, stage=stage)


def dataset_get_for_user(user, pk: int) -> Dataset:
    if not user.is_authenticated:
        raise Http404
    return get_object_or_404(Dataset, pk=pk)


def datasets_by_digest(user, digest: str) -> list[Dataset]:
    """All datasets with ``digest`` (one digest may be logged under several names), or 404."""
    if not user.is_authenticated:
        raise Http404
    datasets = list(Dataset.objects.filter(digest=digest))
    if not datasets:
        raise Http404("No dataset with this digest has been mirrored.")
    return datasets


def versions_trained_on(user, datasets: list[Dataset], *, stage: str = "", page_number=None) -> ReverseLineage:
    runs = Run.objects.filter(inputs__dataset__in=datasets)
    lineage = _reverse_lineage(_versions_of_runs(user, runs), stage=stage, page_number=page_number)
    _attach_contexts(lineage.page, datasets)
    return lineage


def _attach_contexts(page: Page, datasets: list[Dataset]) -> None:
    """How each listed version's run used the datasets (``training``, ``evaluation``...): one query."""
    run_ids = {v.run_id for v in page}
    contexts: dict[str, set[str]] = {}
    for run_id, context in RunInput.objects.filter(dataset__in=datasets, run__run_id__in=run_ids).values_list(
        "run__run_id", "context"
    ):
        contexts.setdefault(run_id, set()).add(context or "unspecified")
    for version in page:
        version.contexts = sorted(contexts.get(version.run_id, ()))


def commits_matching(user, prefix: str) -> list[str]:
    """Full commit hashes starting with ``prefix`` (at most ``SEARCH_LIMIT``), or 404."""
    if not user.is_authenticated or len(prefix) < MIN_COMMIT_PREFIX:
        raise Http404
    commits = list(
        Run.objects.filter(git_commit__startswith=prefix.lower())
        .order_by("git_commit")
        .values_list("git_commit", flat=True)
        .distinct()[:SEARCH_LIMIT]
    )
    if not commits:
        raise Http404("No mirrored run was trained from a commit with this prefix.")
    return commits


def versions_from_commit(user, prefix: str, *, stage: str = "", page_number=None) -> ReverseLineage:
    runs = Run.objects.filter(git_commit__startswith=prefix.lower())
    return _reverse_lineage(_versions_of_runs(user, runs), stage=stage, page_number=page_number)


@dataclass
class LineageSearch:
    datasets: list[Dataset]
    commits: list[dict]


def lineage_search(user, query: str) -> LineageSearch:
    """Datasets whose name contains ``query`` or whose digest starts with it; commits starting with it."""
    if not user.is_authenticated or not query:
        return LineageSearch([], [])
    lowered = query.lower()
    datasets = list(
        Dataset.objects.filter(Q(name__icontains=query) | Q(digest__startswith=lowered))
        .annotate(run_count=Count("run_inputs__run", distinct=True))
        .order_by("name", "digest")[:SEARCH_LIMIT]
    )
    commits = []
    if len(query) >= MIN_COMMIT_PREFIX and all(c in "0123456789abcdef" for c in lowered):
        commits = list(
            Run.objects.filter(git_commit__startswith=lowered)
            .values("git_commit")
            .annotate(run_count=Count("pk"))
            .order_by("git_commit")[:SEARCH_LIMIT]
        )
    return LineageSearch(datasets, commits)
