"""Tests act as MLflow users do: with the real client, against a real store."""

import uuid
import warnings

import mlflow
import pandas as pd
from mlflow import MlflowClient


class MlflowWorld:
    def __init__(self, uri: str, artifact_root: str | None):
        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        self.artifact_root = artifact_root
        self._experiment_id = None

    @property
    def experiment_id(self) -> str:
        if self._experiment_id is None:
            name = f"exp-{uuid.uuid4().hex[:8]}"
            kwargs = {"artifact_location": f"{self.artifact_root}/{name}"} if self.artifact_root else {}
            self._experiment_id = self.client.create_experiment(name, **kwargs)
        return self._experiment_id

    def create_run(self, *, metrics=None, params=None, tags=None, dataset=None, finished=True) -> str:
        run = self.client.create_run(self.experiment_id, tags=tags or {})
        run_id = run.info.run_id
        for key, value in (params or {}).items():
            self.client.log_param(run_id, key, value)
        for key, value in (metrics or {}).items():
            self.client.log_metric(run_id, key, value)
        if dataset is not None:
            name, frame = dataset
            ds = mlflow.data.from_pandas(frame, source=f"/datasets/{name}.csv", name=name)
            from mlflow.entities import Dataset, DatasetInput, InputTag

            self.client.log_inputs(
                run_id, [DatasetInput(Dataset(**ds.to_dict()), tags=[InputTag("mlflow.data.context", "training")])]
            )
        if finished:
            self.client.set_terminated(run_id)
        return run_id

    def create_version(self, name: str, run_id: str | None = None, *, stage: str = "None", **run_kwargs) -> int:
        if run_id is None:
            run_id = self.create_run(**run_kwargs)
        try:
            self.client.get_registered_model(name)
        except mlflow.exceptions.MlflowException:
            self.client.create_registered_model(name)
        version = int(self.client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id).version)
        if stage != "None":
            self.transition(name, version, stage)
        return version

    def transition(self, name: str, version: int, stage: str, archive: bool = False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self.client.transition_model_version_stage(name, str(version), stage, archive_existing_versions=archive)


def frame(rows: int = 20, seed: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"x": [float(i + seed) for i in range(rows)], "y": [i % 2 for i in range(rows)]})
