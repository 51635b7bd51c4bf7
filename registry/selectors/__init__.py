"""Reads that depend on who asks. Views never call ``.objects.get`` on protected data.

Every page's reads are a fixed number of queries, whatever the number of models or versions: lists
are paginated in the database, and what a page needs for many rows comes in one query per kind.
One module per page: ``model_list``, ``model_page``, ``versions`` (a version and its review),
``lineage`` (reverse lineage and search).
"""

from .lineage import (
    MIN_COMMIT_PREFIX,
    REVERSE_PER_PAGE,
    SEARCH_LIMIT,
    LineageSearch,
    ReverseLineage,
    commits_matching,
    dataset_get_for_user,
    datasets_by_digest,
    lineage_search,
    versions_from_commit,
    versions_trained_on,
)
from .model_list import (
    MODELS_PER_PAGE,
    ModelRenamed,
    last_synced_at,
    model_get_for_user,
    model_list_for_user,
    model_list_page,
    sync_run_latest_running,
)
from .model_page import (
    VERSIONS_PER_PAGE,
    ModelPage,
    ModelVersions,
    VersionRow,
    model_page,
    model_timeline,
    model_versions,
    sort_versions,
    with_key_values,
)
from .owners import (
    model_owner_get,
    model_owners_all,
    owned_by,
    owner_choices,
    owners_prefetch,
    tag_suggestion,
    with_owners,
)
from .versions import (
    ProductionComparison,
    VersionReview,
    production_comparison,
    version_get_for_user,
    version_inputs,
    version_review_for_user,
)

__all__ = [
    "MIN_COMMIT_PREFIX",
    "MODELS_PER_PAGE",
    "REVERSE_PER_PAGE",
    "SEARCH_LIMIT",
    "VERSIONS_PER_PAGE",
    "LineageSearch",
    "ModelPage",
    "ModelRenamed",
    "ModelVersions",
    "ProductionComparison",
    "ReverseLineage",
    "VersionReview",
    "VersionRow",
    "commits_matching",
    "dataset_get_for_user",
    "datasets_by_digest",
    "last_synced_at",
    "lineage_search",
    "model_get_for_user",
    "model_list_for_user",
    "model_list_page",
    "model_owner_get",
    "model_owners_all",
    "owned_by",
    "owners_prefetch",
    "tag_suggestion",
    "with_owners",
    "model_page",
    "model_timeline",
    "model_versions",
    "owner_choices",
    "production_comparison",
    "sort_versions",
    "sync_run_latest_running",
    "version_get_for_user",
    "version_inputs",
    "version_review_for_user",
    "versions_from_commit",
    "versions_trained_on",
    "with_key_values",
]
