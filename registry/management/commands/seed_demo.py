"""Demo data: real scikit-learn models trained on a synthetic churn dataset, logged to MLflow.

Idempotent: runs, versions, users and groups that already exist are reused, never duplicated.
"""

import contextlib
import hashlib
import logging
import secrets
import warnings

import numpy as np
import pandas as pd
import skops.io as skops_io
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

from registry.mlflow_client import RegistryClient

GROUPS = ("owners", "reviewers", "ml-leads")
USERS = {
    "owner": ("owners",),
    "reviewer1": ("reviewers",),
    "reviewer2": ("reviewers",),
    "lead": ("ml-leads", "reviewers"),
    "admin": (),
}
REGIONS = ("north", "south", "east", "west")

# (model name, run name, estimator factory, params, stage, dataset version, rows, seed)
CHURN = "ChurnPredictor"
FRAUD = "FraudDetector"
PLAN = [
    (
        CHURN,
        "churn-v1-tree",
        lambda: DecisionTreeClassifier(max_depth=2, random_state=0),
        {"max_depth": 2},
        "Archived",
        "churn-2026-09",
        5000,
        1,
    ),
    (
        CHURN,
        "churn-v2-forest",
        lambda: RandomForestClassifier(n_estimators=60, max_depth=6, random_state=0),
        {"n_estimators": 60, "max_depth": 6},
        "Production",
        "churn-2026-10",
        5000,
        2,
    ),
    (
        CHURN,
        "churn-v3-gbm",
        lambda: GradientBoostingClassifier(n_estimators=120, max_depth=3, random_state=0),
        {"n_estimators": 120, "max_depth": 3},
        "None",
        "churn-2026-11",
        5000,
        3,
    ),
    (FRAUD, "fraud-v1-logreg", lambda: LogisticRegression(max_iter=300), {"C": 1.0}, "None", "fraud-2026-10", 4000, 4),
    (
        FRAUD,
        "fraud-v2-forest",
        lambda: RandomForestClassifier(n_estimators=40, max_depth=8, random_state=0),
        {"n_estimators": 40, "max_depth": 8},
        "Staging",
        "fraud-2026-11",
        4000,
        5,
    ),
]


def churn_frame(rows: int, seed: int) -> pd.DataFrame:
    """A synthetic customer-churn table with a protected attribute (``region``)."""
    rng = np.random.default_rng(seed)
    region = rng.choice(REGIONS, size=rows, p=[0.3, 0.3, 0.2, 0.2])
    tenure = rng.integers(1, 72, size=rows)
    monthly = rng.normal(70, 25, size=rows).clip(15, 150)
    tickets = rng.poisson(1.5, size=rows)
    contract = rng.choice([0, 1, 2], size=rows, p=[0.5, 0.3, 0.2])
    logit = -0.06 * tenure + 0.025 * monthly + 0.55 * tickets - 1.2 * contract - 0.8 + (region == "south") * 0.3
    churn = (rng.random(rows) < 1 / (1 + np.exp(-4.0 * logit))).astype(int)
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": monthly.round(2),
            "support_tickets": tickets,
            "contract_type": contract,
            "region": region,
            "churned": churn,
        }
    )


def features(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.get_dummies(frame.drop(columns=["churned"]), columns=["region"], dtype=float)


def evaluate(model, x_test, y_test, regions) -> dict:
    predicted = model.predict(x_test)
    scores = model.predict_proba(x_test)[:, 1]
    metrics = {
        "accuracy": accuracy_score(y_test, predicted),
        "precision": precision_score(y_test, predicted, zero_division=0),
        "recall": recall_score(y_test, predicted, zero_division=0),
        "f1": f1_score(y_test, predicted, zero_division=0),
        "roc_auc": roc_auc_score(y_test, scores),
    }
    rates = {}
    for region in REGIONS:
        mask = regions == region
        metrics[f"accuracy_{region}"] = accuracy_score(y_test[mask], predicted[mask])
        rates[region] = float(predicted[mask].mean())
        metrics[f"selection_rate_{region}"] = rates[region]
    metrics["demographic_parity_difference"] = max(rates.values()) - min(rates.values())
    return {k: round(float(v), 4) for k, v in metrics.items()}


@contextlib.contextmanager
def mlflow_quietly():
    """Keep MLflow's chatter out of the demo's output: its INFO lines while it creates a fresh store's tables,
    and its hint on every inferred schema with integer columns (the churn table has some, and a classifier's
    predicted labels are integers: nothing a demo user can act on)."""
    mlflow_logger = logging.getLogger("mlflow")
    level = mlflow_logger.level
    mlflow_logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", "Hint: Inferred schema contains integer column", UserWarning, r"mlflow\.types\.utils"
            )
            yield
    finally:
        mlflow_logger.setLevel(level)


class Command(BaseCommand):
    help = "Train demo models, log them to MLflow, register versions and create demo users (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--reset-passwords", action="store_true", help="give the demo users a new password")

    def handle(self, *args, reset_passwords=False, **options):
        with mlflow_quietly():
            client = RegistryClient()  # a fresh store's tables are created here
            for model_name, run_name, factory, params, stage, dataset_version, rows, seed in PLAN:
                self.ensure_version(client, model_name, run_name, factory, params, stage, dataset_version, rows, seed)
        self.ensure_users(reset_passwords)

    def ensure_version(self, client, model_name, run_name, factory, params, stage, dataset_version, rows, seed):
        experiment = f"{model_name}-training"
        existing = client.runs_named(experiment, run_name)
        registered = {v.run_id: v.version for v in client.search_versions(model_name)}
        run_id = next((r for r in existing if r in registered), None) or (existing[0] if existing else None)
        if run_id is None:
            run_id = self.train(client, experiment, model_name, run_name, factory, params, dataset_version, rows, seed)
        if run_id in registered:
            self.stdout.write(f"{model_name} v{registered[run_id]} already registered ({run_name})")
            return
        if client.get_model(model_name) is None:
            client.create_model(
                model_name,
                description=f"Demo {model_name} model",
                tags={"owner": "owner", "team": "customer-analytics"},
            )
        version = client.create_version(model_name, f"runs:/{run_id}/model", run_id=run_id).version
        if stage != "None":
            client.transition_stage(model_name, version, stage, archive_existing=stage in ("Staging", "Production"))
            alias = settings.STAGE_ALIASES.get(stage)
            if alias:
                client.set_alias(model_name, alias, version)
        self.stdout.write(f"registered {model_name} v{version} in stage {stage}")

    def train(self, client, experiment, model_name, run_name, factory, params, dataset_version, rows, seed) -> str:
        """Fit the model on its synthetic table and log the run the way a training script would."""
        frame = churn_frame(rows, seed)
        x_train, x_test, y_train, y_test, _, regions = train_test_split(
            features(frame), frame["churned"], frame["region"], test_size=0.25, random_state=seed
        )
        model = factory().fit(x_train, y_train)
        commit = hashlib.sha1(run_name.encode()).hexdigest()  # noqa: S324 - a stand-in git commit id
        run_id = client.log_training_run(
            experiment=experiment,
            artifact_location=f"{settings.MLFLOW_ARTIFACT_ROOT}/{experiment}",
            run_name=run_name,
            params={**params, "estimator": type(model).__name__, "rows": rows},
            metrics=evaluate(model, x_test, y_test.to_numpy(), regions.to_numpy()),
            tags={"mlflow.source.git.commit": commit, "dataset_version": dataset_version, "owner": "owner"},
            dataset=(f"{model_name.lower()}-customers", f"/datasets/{dataset_version}.parquet", frame),
            model=model,
            input_example=x_train.head(3),
            # We trained this model ourselves a moment ago, so every type in it may be trusted by skops.
            trusted=skops_io.get_untrusted_types(data=skops_io.dumps(model)),
        )
        self.stdout.write(f"trained {run_name} ({type(model).__name__})")
        return run_id

    @transaction.atomic
    def ensure_users(self, reset_passwords: bool):
        groups = {name: Group.objects.get_or_create(name=name)[0] for name in GROUPS}
        password = secrets.token_urlsafe(9)
        User = get_user_model()
        created = []
        for username, group_names in USERS.items():
            user, was_created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@example.com"}
            )
            if username == "admin":
                user.is_staff = user.is_superuser = True
            if was_created or reset_passwords:
                user.set_password(password)
                created.append(username)
            user.save()
            user.groups.add(*(groups[g] for g in group_names))
        if created:
            self.stdout.write(self.style.SUCCESS(f"Demo logins ({', '.join(created)}) password: {password}"))
            self.stdout.write("This password is printed once; `manage.py seed_demo --reset-passwords` sets a new one.")
        else:
            self.stdout.write("Demo users already exist (use --reset-passwords to print a new password).")
