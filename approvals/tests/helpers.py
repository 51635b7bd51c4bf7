"""Test helpers: a mirror builder (rows as sync writes them) and model card revisions."""

import itertools
import uuid

from django.contrib.auth.models import Group, User
from django.utils import timezone

from cards.completeness import sections_completeness
from cards.models import CardRevision, ModelCard
from cards.sections import REQUIRED_SECTIONS
from registry.models import Dataset, ModelVersion, RegisteredModel, Run, RunInput, StageChange

GOOD_TAGS = {"mlflow.source.git.commit": "abc123", "dataset_version": "v12"}


class Mirror:
    """Mirror rows as sync writes them."""

    def __init__(self):
        self._numbers = itertools.count(1)

    def model(self, name="Churn", owner="olga-owner") -> RegisteredModel:
        return RegisteredModel.objects.get_or_create(name=name, defaults={"owner": owner})[0]

    def version(
        self,
        name="Churn",
        *,
        stage="None",
        metrics=None,
        params=None,
        tags=None,
        version_tags=None,
        dataset=("churn-data", "d1g3st"),
        run=True,
        entered_staging=None,
    ) -> ModelVersion:
        model = self.model(name)
        run_row = None
        if run:
            run_row = Run.objects.create(
                run_id=uuid.uuid4().hex,
                status="FINISHED",
                metrics={"accuracy": 0.93} if metrics is None else metrics,
                params=params or {},
                tags=dict(GOOD_TAGS) if tags is None else tags,
            )
            if dataset:
                data = Dataset.objects.get_or_create(name=dataset[0], digest=dataset[1])[0]
                RunInput.objects.create(run=run_row, dataset=data, context="training")
        number = (model.versions.order_by("-version").values_list("version", flat=True).first() or 0) + 1
        version = ModelVersion.objects.create(
            model=model, version=number, stage=stage, run=run_row, tags=version_tags or {}
        )
        if stage == "Staging" or entered_staging:
            StageChange.objects.create(
                model_name=name,
                version=number,
                kind="stage",
                from_value="None",
                to_value="Staging",
                mlflow_timestamp=entered_staging or timezone.now(),
            )
        return ModelVersion.objects.select_related("model", "run").get(pk=version.pk)


def complete_sections() -> dict:
    return {section.key: f"Reviewed prose about {section.title.lower()}." for section in REQUIRED_SECTIONS}


def write_card(version: ModelVersion, sections: dict, author="olga-owner") -> CardRevision:
    """A card revision as the cards app stores it."""
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


def reviewer_named(name: str) -> User:
    """A member of ``reviewers`` with an email address (notifications go to it)."""
    user = User.objects.create_user(name, email=f"{name}@example.com")
    user.groups.add(Group.objects.get_or_create(name="reviewers")[0])
    return user
