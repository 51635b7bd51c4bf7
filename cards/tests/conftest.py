import pytest

# What a card is written about: per-region metrics (the card's group slices) and a model type it names.
CARD_METRICS = {"accuracy": 0.81, "accuracy_region_north": 0.78, "accuracy_region_south": 0.84}
CARD_PARAMS = {"max_depth": "3", "model_type": "sklearn.ensemble.RandomForest"}


@pytest.fixture
def churn_v1(mirror):
    """Churn v1 with the card's metrics and model type, one training dataset of its own and commit abc123."""
    return mirror.version(metrics=CARD_METRICS, params=CARD_PARAMS, datasets=1)
