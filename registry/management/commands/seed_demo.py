"""Demo data: real scikit-learn models trained on a synthetic churn dataset, logged to MLflow.

Idempotent: runs, versions, users and groups that already exist are reused, never duplicated.
"""

import hashlib
import secrets

import numpy as np
import pandas as pd
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

from registry import mlflow_client

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


class Command(BaseCommand):
    help = "Train demo models, log them to MLflow, register versions and create demo users (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--reset-passwords", action="store_true", help="give the demo users a new password")

    def handle(self, *args, reset_passwords=False, **options):
        for model_name, run_name, factory, params, stage, dataset_version, rows, seed in PLAN:
            self.ensure_version(model_name, run_name, factory, params, stage, dataset_version, rows, seed)
        self.ensure_users(reset_passwords)

    def ensure_version(self, model_name, run_name, factory, params, stage, dataset_version, rows, seed):
        experiment = f"{model_name}-training"
        existing = mlflow_client.find_runs_by_name(experiment, run_name)
        registered = mlflow_client.registered_versions(model_name)
        run_id = next((r for r in existing if r in registered), None) or (existing[0] if existing else None)
        if run_id is None:
            frame = churn_frame(rows, seed)
            x_train, x_test, y_train, y_test, _, regions = train_test_split(
                features(frame), frame["churned"], frame["region"], test_size=0.25, random_state=seed
            )
            model = factory().fit(x_train, y_train)
            commit = hashlib.sha1(run_name.encode()).hexdigest()  # noqa: S324 - a stand-in git commit id
            run_id = mlflow_client.log_demo_training_run(
                experiment=experiment,
                run_name=run_name,
                model=model,
                input_example=x_train.head(3),
                training_frame=frame,
                dataset_name=f"{model_name.lower()}-customers",
                dataset_source=f"/datasets/{dataset_version}.parquet",
                params={**params, "estimator": type(model).__name__, "rows": rows},
                metrics=evaluate(model, x_test, y_test.to_numpy(), regions.to_numpy()),
                tags={"mlflow.source.git.commit": commit, "dataset_version": dataset_version, "owner": "owner"},
            )
            self.stdout.write(f"trained {run_name} ({type(model).__name__})")
        if run_id in registered:
            self.stdout.write(f"{model_name} v{registered[run_id]} already registered ({run_name})")
            return
        version = mlflow_client.register_demo_version(
            name=model_name,
            run_id=run_id,
            stage=stage,
            description=f"Demo {model_name} model",
            tags={"owner": "owner", "team": "customer-analytics"},
        )
        self.stdout.write(f"registered {model_name} v{version} in stage {stage}")

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
