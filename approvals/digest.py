"""The content digest of a model version: what reviewers and checks judged.

``version_content_digest(version)`` is sha256 over the canonical JSON of:

- ``run_id`` — which training run the version is;
- the version's ``metrics`` and ``params`` — its run's, overlaid by its LoggedModel's, as the rules read
  them (for a version without a LoggedModel, exactly the run's) — and the run's ``tags``; MLflow keeps the
  latest value per metric;
- the run's logged ``datasets`` (name, digest, context), which the dataset rule judges;
- the version's ``tags``, except those the portal itself writes back to MLflow
  (``PORTAL_TAG_PREFIXES``: approval facts and card publication markers) — otherwise applying an
  approval or publishing a card would make the very approval it records stale;
- the id of the latest model card revision.

Left out on purpose: the stage and aliases (a transition changes them, and must not invalidate the
approvals that allowed it), descriptions and timestamps (not judged by any rule).

Metrics may be NaN or ±inf. ``json.dumps`` writes them as ``NaN`` / ``Infinity`` / ``-Infinity``
(not JSON, but this text is only hashed), always the same way, and the mirror reads them back as the
same floats, so the digest stays stable across syncs.
"""

from __future__ import annotations

import hashlib
import json

from cards.models import CardRevision

PORTAL_TAG_PREFIXES = ("approval.", "model_card.")


def canonical_json(payload: dict) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def run_datasets(run) -> list[dict]:
    """The datasets logged on ``run`` (a mirrored ``Run`` or None), sorted; one query."""
    if run is None:
        return []
    rows = run.inputs.select_related("dataset").order_by("dataset__name", "dataset__digest", "context")
    return [{"name": i.dataset.name, "digest": i.dataset.digest, "context": i.context} for i in rows]


def version_content(version, *, datasets: list[dict], card_revision) -> dict:
    run = version.mirrored_run
    return {
        "run_id": version.run_id,
        "metrics": version.metrics,
        "params": version.params,
        "run_tags": run.tags if run else {},
        "datasets": datasets,
        "version_tags": {k: v for k, v in version.tags.items() if not k.startswith(PORTAL_TAG_PREFIXES)},
        "card_revision_id": card_revision.pk if card_revision else None,
    }


def digest_of(content: dict) -> str:
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def version_content_digest(version) -> str:
    """sha256 of the version's judged content (see the module docstring); two or three queries."""
    return digest_of(
        version_content(
            version, datasets=run_datasets(version.mirrored_run), card_revision=CardRevision.objects.latest_for(version)
        )
    )
