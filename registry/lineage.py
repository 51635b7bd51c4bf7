"""The lineage graph of one version: dataset(s) and code → run → version → stage and aliases.

``version_lineage`` builds nodes and edges once; the page draws them as SVG (every node a link) and
the same URL answers JSON with ``Accept: application/json``. A version may have no run, or a run the
mirror does not hold: the graph then simply has fewer nodes. A value that fits no portal URL (a commit
that is not a hash, a digest with a ``/``) makes a node without a link (``url`` is "").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .links import commit_url, dataset_url, mlflow_run_url, mlflow_version_url
from .models import ModelVersion, Run, RunInput

NODE_W = 220
NODE_H = 58
COLUMN_GAP = 70
ROW_GAP = 18
MARGIN = 12
LABEL_CHARS = 26  # 13px bold in a 220px box
DETAIL_CHARS = 34  # 11px


@dataclass
class Node:
    id: str
    kind: str  # dataset, commit, run, version, stage, alias
    label: str
    detail: str
    url: str  # "" when the node links nowhere
    column: int
    x: float = 0
    y: float = 0
    width: int = NODE_W
    height: int = NODE_H

    @property
    def text_x(self) -> float:
        return self.x + 10

    @property
    def short_label(self) -> str:
        return _clip(self.label, LABEL_CHARS)

    @property
    def short_detail(self) -> str:
        return _clip(self.detail, DETAIL_CHARS)


@dataclass
class Edge:
    source: Node
    target: Node

    @property
    def path(self) -> str:
        x1, y1 = self.source.x + NODE_W, self.source.y + NODE_H / 2
        x2, y2 = self.target.x, self.target.y + NODE_H / 2
        bend = (x2 - x1) / 2
        return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"


@dataclass
class Lineage:
    version: ModelVersion
    inputs: list[RunInput]
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    width: int = 0
    height: int = 0

    def as_json(self) -> dict:
        version, run, logged = self.version, self.version.mirrored_run, self.version.mirrored_logged_model
        return {
            "model": version.model.name,
            "version": version.version,
            "stage": version.stage,
            "status": version.status,
            "status_message": version.status_message,
            "aliases": list(version.aliases),
            "url": version.get_absolute_url(),
            "run": None
            if not version.run_id
            else {
                "run_id": version.run_id,
                "mirrored": run is not None,
                "experiment_id": run.experiment_id if run else None,
                "experiment_name": run.experiment_name if run else None,
                "run_name": run.run_name if run else None,
                "status": run.status if run else None,
                "lifecycle_stage": run.lifecycle_stage if run else None,
                "experiment_lifecycle_stage": run.experiment_lifecycle_stage if run else None,
                "gone": run.gone if run else None,
                "params": run.params if run else {},
                # Exactly as MLflow holds it (may be "1a2b3c4d-dirty"); only a hash has a commit page.
                "git_commit": (run.commit or run.git_commit or None) if run else None,
                "commit_url": (commit_url(run.git_commit) or None) if run else None,
                "source_name": (run.source_name or None) if run else None,
                "mlflow_url": (mlflow_run_url(run.experiment_id, run.run_id) or None) if run else None,
            },
            "logged_model": None
            if logged is None
            else {"model_id": logged.model_id, "source_run_id": logged.source_run_id or None, "params": logged.params},
            "datasets": [
                {
                    "name": i.dataset.name,
                    "digest": i.dataset.digest,
                    "context": i.context,
                    "source_type": i.dataset.source_type,
                    "source": i.dataset.source,
                    "url": dataset_url(i.dataset.digest) or None,
                }
                for i in self.inputs
            ],
            "nodes": [
                {"id": n.id, "kind": n.kind, "label": n.label, "detail": n.detail, "url": n.url or None}
                for n in self.nodes
            ],
            "edges": [{"source": e.source.id, "target": e.target.id} for e in self.edges],
        }


def version_status_text(version: ModelVersion) -> str:
    """A version's status when it is not READY (``FAILED_REGISTRATION: <message>``), else ""."""
    if version.is_ready:
        return ""
    return f"{version.status}: {version.status_message}" if version.status_message else version.status


def run_lifecycle_note(run: Run | None) -> str:
    """Why a mirrored run may no longer be what MLflow shows: "" for a live run."""
    if run is None:
        return ""
    if run.gone:
        return "run no longer in MLflow"
    if run.lifecycle_stage == Run.DELETED:
        return "run deleted in MLflow"
    if run.experiment_lifecycle_stage == Run.DELETED:
        return "experiment deleted"
    return ""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def version_lineage(version: ModelVersion, inputs: list[RunInput]) -> Lineage:
    lineage = Lineage(version=version, inputs=inputs)
    model_name = version.model.name
    model_url = version.model.get_absolute_url()
    version_node = Node(
        "version",
        "version",
        f"{model_name} v{version.version}",
        version_status_text(version) or "model version",
        version.get_absolute_url(),
        2,
    )
    run = version.mirrored_run
    if version.run_id:
        run_node = Node(
            "run",
            "run",
            (run.run_name or run.run_id) if run else version.run_id,
            (
                run_lifecycle_note(run)
                or f"{run.experiment_name or 'experiment ' + run.experiment_id} · {len(run.params)} params"
            )
            if run
            else "run not mirrored",
            (mlflow_run_url(run.experiment_id, run.run_id) if run else "")
            or mlflow_version_url(model_name, version.version)
            or f"{version.get_absolute_url()}#code",
            1,
        )
        lineage.nodes.append(run_node)
        lineage.edges.append(Edge(run_node, version_node))
        for index, run_input in enumerate(inputs):
            dataset = run_input.dataset
            node = Node(
                f"dataset-{index}",
                "dataset",
                dataset.name,
                f"{dataset.digest[:12]}{' · ' + run_input.context if run_input.context else ''}",
                dataset_url(dataset.digest),
                0,
            )
            lineage.nodes.append(node)
            lineage.edges.append(Edge(node, run_node))
        shown_commit = (run.commit or run.git_commit) if run else ""
        if shown_commit:
            commit = Node(
                "commit",
                "commit",
                f"commit {shown_commit[:10]}",
                run.source_name.rsplit("/", 1)[-1] if run.source_name else "source code",
                commit_url(run.git_commit),
                0,
            )
            lineage.nodes.append(commit)
            lineage.edges.append(Edge(commit, run_node))
    lineage.nodes.append(version_node)
    targets = [Node("stage", "stage", version.stage, "current stage", f"{model_url}#history", 3)]
    targets += [
        Node(f"alias-{a}", "alias", f"@{a}", f"alias of v{version.version}", f"{model_url}#history", 3)
        for a in version.aliases
    ]
    for node in targets:
        lineage.nodes.append(node)
        lineage.edges.append(Edge(version_node, node))
    _layout(lineage)
    return lineage


def _layout(lineage: Lineage) -> None:
    columns: dict[int, list[Node]] = {}
    for node in lineage.nodes:
        columns.setdefault(node.column, []).append(node)
    tallest = max(len(nodes) for nodes in columns.values())
    lineage.height = int(2 * MARGIN + tallest * NODE_H + (tallest - 1) * ROW_GAP)
    lineage.width = int(2 * MARGIN + 4 * NODE_W + 3 * COLUMN_GAP)
    for column, nodes in columns.items():
        block = len(nodes) * NODE_H + (len(nodes) - 1) * ROW_GAP
        top = (lineage.height - block) / 2
        for index, node in enumerate(nodes):
            node.x = MARGIN + column * (NODE_W + COLUMN_GAP)
            node.y = round(top + index * (NODE_H + ROW_GAP), 2)
