import pytest
from django.contrib.auth.models import User

from registry.models import Dataset, ModelVersion, RegisteredModel, Run, RunInput


@pytest.fixture
def owner(db):
    return User.objects.create_user("olivia-owner")


@pytest.fixture
def coowner(db):
    """A second editor: an admin, who may edit every card."""
    return User.objects.create_superuser("ada-admin")


def mirror_version(
    name="Churn", version=1, *, owner="olivia-owner", metrics=None, params=None, datasets=1, run=True, tags=None
) -> ModelVersion:
    """A mirrored version as sync would write it (for tests that need no MLflow store)."""
    model, _ = RegisteredModel.objects.get_or_create(name=name, defaults={"owner": owner, "tags": {"owner": owner}})
    run_row = None
    if run:
        run_row = Run.objects.create(
            run_id=f"run-{name}-{version}",
            experiment_id="1",
            experiment_name="churn-exp",
            status="FINISHED",
            params=params if params is not None else {"max_depth": "3", "model_type": "sklearn.ensemble.RandomForest"},
            metrics=metrics
            if metrics is not None
            else {"accuracy": 0.81, "accuracy_region_north": 0.78, "accuracy_region_south": 0.84},
            tags=tags or {},
            git_commit="abc123",
        )
        for n in range(datasets):
            dataset = Dataset.objects.create(name=f"churn-data-{n}", digest=f"d{version}{n:04d}", source="s3://b/c.csv")
            RunInput.objects.create(run=run_row, dataset=dataset, context="training" if n % 2 == 0 else "evaluation")
    return ModelVersion.objects.create(model=model, version=version, run=run_row)


@pytest.fixture
def churn_v1(db):
    return mirror_version()
