"""What analysis reads from the store, as pandas frames sorted in Python (never by the database).

Sorting here, not in SQL, keeps every table and figure identical whatever database holds the store
(SQLite and PostgreSQL order text differently). Numbers that were not measured stay NaN, never 0.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from securitynet.analysis.declarations import AttackDeclarations, load_declarations
from securitynet.store import schema

MEASURED = "measured"
ANNOTATION = "annotation.accuracy"
# Before the engine ran annotation (software before issue 15), its jobs were stored as "annotation";
# such rows read as ANNOTATION (their attack_version, 1 or 2, keeps them apart from the engine's 3).
LEGACY_ANNOTATION = "annotation"
ANNOTATION_METRICS = ("train_accuracy", "test_accuracy", "overfit_gap")
PURPOSES_PUBLIC = ("benchmark", "security", "other")

MODEL_COLUMNS = (
    "id", "name", "source", "architecture", "model_type", "family", "dataset", "data_category", "num_classes",
    "train_size", "purpose", "venue", "venue_type", "year", "country", "num_authors", "paper_url", "weights_url",
    "weight_hash", "published_train_accuracy", "published_test_accuracy", "published_overfit_gap", "backdoored",
)
INTEGER_COLUMNS = ("num_classes", "train_size", "year", "num_authors")


@dataclass
class AnalysisData:
    """The models, their results and their ROC curves, for the selected models.

    ``models``: one row per model (catalog columns, ``same_as`` and ``published_source`` from the card).
    ``results``: long form, one row per stored value (job provenance, ``variant`` label, ``params`` text).
    ``roc``: one row per stored ROC curve artifact (``fpr``/``tpr`` arrays, or a ``problem`` saying why not).
    ``attacks``: what the store's attacks table declares of each attack (family, headline metrics, scores).
    """

    models: pd.DataFrame
    results: pd.DataFrame
    roc: pd.DataFrame
    source: str
    attacks: AttackDeclarations = AttackDeclarations({})

    @property
    def undeclared_attacks(self) -> list[str]:
        """Attacks with results that the store does not declare: analysis guessed their family from the name."""
        return self.attacks.undeclared(self.results.attack.unique())

    @property
    def measured(self) -> pd.DataFrame:
        return self.results[self.results.origin == MEASURED]

    @property
    def published(self) -> pd.DataFrame:
        return self.results[self.results.origin != MEASURED]


def canonical_params(params: Any) -> str:
    """Parameters as stable text (sorted keys), the same whichever database returned them."""
    if params is None:
        return "{}"
    if isinstance(params, str):
        params = json.loads(params)
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def variant_labels(params_by_hash: dict[str, dict[str, Any]]) -> dict[str, str]:
    """A short label per parameter set of one attack: only the keys whose values differ between sets.

    One set -> "" (the attack's name says it all); {surrogate: wrn, n: 500} and {surrogate: resnet, n: 500}
    -> "surrogate=wrn" and "surrogate=resnet".
    """
    if len(params_by_hash) <= 1:
        return dict.fromkeys(params_by_hash, "")
    keys = sorted({key for params in params_by_hash.values() for key in params})
    varying = [k for k in keys if len({json.dumps(p.get(k), sort_keys=True, default=str)
                                       for p in params_by_hash.values()}) > 1]
    labels = {}
    for params_hash, params in params_by_hash.items():
        parts = [f"{k}={_short(params[k])}" for k in varying if k in params]
        labels[params_hash] = ", ".join(parts) or "default"
    return labels


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def load_models(store: Any, model_ids: Iterable[str] | None = None) -> pd.DataFrame:
    m = schema.models.c
    stmt = sa.select(*[getattr(m, c) for c in MODEL_COLUMNS], m.card_json)
    with store.engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(stmt)]
    wanted = None if model_ids is None else set(model_ids)
    records = []
    for row in rows:
        if wanted is not None and row["id"] not in wanted:
            continue
        card = row.pop("card_json")
        card = json.loads(card) if isinstance(card, str) else (card or {})
        extra = (card.get("extra") or {}).get("securitynet") or {}
        row["same_as"] = extra.get("same_as")
        row["published_source"] = (card.get("published") or {}).get("source")
        row["tags"] = ",".join(card.get("tags") or [])
        row["backdoor_target"] = (card.get("backdoor") or {}).get("target_label")
        records.append(row)
    frame = pd.DataFrame.from_records(records, columns=[*MODEL_COLUMNS, "same_as", "published_source", "tags",
                                                        "backdoor_target"])
    for column in (*INTEGER_COLUMNS, "backdoor_target"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    for column in ("published_train_accuracy", "published_test_accuracy", "published_overfit_gap"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["backdoored"] = frame["backdoored"].map(lambda v: None if v is None or _isnan(v) else bool(v))
    frame["public"] = frame.purpose.map(lambda p: None if p is None or _isnan(p) else p != "self-trained")
    frame.loc[frame.source == "self-trained", "public"] = False
    return frame.sort_values("id", kind="stable").reset_index(drop=True)


def load_results(store: Any, model_ids: Iterable[str] | None = None,
                 attacks: AttackDeclarations | None = None) -> pd.DataFrame:
    """Finished jobs' values in long form, with a ``variant`` label per (attack, origin, params) and the
    ``attack_family`` the store's attacks table declares (``attacks``; read from the store when None)."""
    r, j = schema.results.c, schema.jobs.c
    stmt = sa.select(
        r.model_id, r.attack, r.metric, r.value, r.missing_reason, r.origin, j.job_key, j.attack_version,
        j.params_hash, j.params_json, j.seed, j.weight_hash, j.run_id, j.software_version, j.device,
    ).select_from(schema.results.join(schema.jobs, r.job_id == j.id)).where(j.status == "done")
    with store.engine.connect() as conn:
        frame = pd.DataFrame([dict(row._mapping) for row in conn.execute(stmt)], columns=[
            "model_id", "attack", "metric", "value", "missing_reason", "origin", "job_key", "attack_version",
            "params_hash", "params_json", "seed", "weight_hash", "run_id", "software_version", "device",
        ])
    if model_ids is not None:
        frame = frame[frame.model_id.isin(set(model_ids))]
    frame = frame.copy()
    frame["attack"] = frame.attack.replace({LEGACY_ANNOTATION: ANNOTATION})
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    frame["params"] = frame.pop("params_json").map(canonical_params)
    family_of = (attacks or load_declarations(store)).family
    frame["attack_family"] = frame.attack.map(family_of) if len(frame) else pd.Series(dtype=object)
    frame["variant"] = ""
    for (_attack, _origin), group in frame.groupby(["attack", "origin"], sort=True):
        by_hash = {h: json.loads(p) for h, p in zip(group.params_hash, group.params, strict=True)}
        labels = variant_labels(by_hash)
        frame.loc[group.index, "variant"] = group.params_hash.map(labels)
    order = ["model_id", "attack", "origin", "params_hash", "metric", "seed", "job_key"]
    return frame.sort_values(order, kind="stable", na_position="first").reset_index(drop=True)


def load_roc_curves(store: Any, results: pd.DataFrame) -> pd.DataFrame:
    """The ROC curve artifacts of the finished jobs in ``results``, read from their files (or inline data).

    A file that is gone or whose sha256 no longer matches the job's record is not drawn: the row says why.
    """
    a, j = schema.artifacts.c, schema.jobs.c
    keys = set(results.job_key)
    stmt = sa.select(j.job_key, j.model_id, j.attack, j.params_hash, j.seed, a.name, a.path, a.data_json).select_from(
        schema.artifacts.join(schema.jobs, a.job_id == j.id)).where(j.status == "done", a.name == "roc")
    with store.engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(stmt) if row.job_key in keys]
    variants = results.drop_duplicates("job_key").set_index("job_key").variant.to_dict()
    records = []
    for row in rows:
        fpr, tpr, problem = _read_roc(row["path"], row["data_json"])
        records.append({
            "job_key": row["job_key"], "model_id": row["model_id"], "attack": row["attack"],
            "params_hash": row["params_hash"], "variant": variants.get(row["job_key"], ""),
            "seed": row["seed"], "path": row["path"], "fpr": fpr, "tpr": tpr, "problem": problem,
        })
    frame = pd.DataFrame.from_records(records, columns=[
        "job_key", "model_id", "attack", "params_hash", "variant", "seed", "path", "fpr", "tpr", "problem"])
    return frame.sort_values(["attack", "model_id", "params_hash", "seed"], kind="stable").reset_index(drop=True)


def _read_roc(path: str | None, data: Any) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    data = json.loads(data) if isinstance(data, str) else (data or {})
    if isinstance(data, dict) and "fpr" in data and "tpr" in data:  # stored inline
        return np.asarray(data["fpr"], float), np.asarray(data["tpr"], float), None
    if not path:
        return None, None, "no file and no inline curve"
    file = Path(path)
    if not file.is_file():
        return None, None, f"artifact file {path} is missing"
    expected = data.get("sha256") if isinstance(data, dict) else None
    if expected and hashlib.sha256(file.read_bytes()).hexdigest() != expected:
        return None, None, f"artifact file {path} changed since the job recorded it (sha256 differs)"
    try:
        if file.suffix == ".npz":
            with np.load(file, allow_pickle=False) as npz:
                return np.asarray(npz["fpr"], float), np.asarray(npz["tpr"], float), None
        if file.suffix == ".json":
            content = json.loads(file.read_text())
            return np.asarray(content["fpr"], float), np.asarray(content["tpr"], float), None
    except (OSError, KeyError, ValueError) as exc:
        return None, None, f"artifact file {path} cannot be read: {exc}"
    return None, None, f"artifact file {path} has an unknown format"


def load_analysis_data(store: Any, model_ids: Iterable[str] | None = None) -> AnalysisData:
    """Everything the statistics, figures and report need, for ``model_ids`` (None: every model).

    Published cards whose ``same_as`` names a selected model come along, so its published values can be
    set beside the measured ones.
    """
    all_models = load_models(store)
    if model_ids is not None:
        wanted = set(model_ids)
        twins = set(all_models.id[all_models.same_as.isin(wanted)])
        all_models = all_models[all_models.id.isin(wanted | twins)].reset_index(drop=True)
    attacks = load_declarations(store)
    results = load_results(store, list(all_models.id), attacks)
    return AnalysisData(models=all_models, results=results, roc=load_roc_curves(store, results),
                        source=_redacted(store.url), attacks=attacks)


def _redacted(url: str) -> str:
    """The store URL without a password, fit to print in a report."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot parse is still worth naming
        return url


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
