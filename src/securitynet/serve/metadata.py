"""Datasette metadata for the store: titles, descriptions, facets and canned queries."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

from securitynet.store.declarations import declared_headline

DATABASE = "securitynet"
MODEL_FACETS = ["dataset", "family", "purpose", "venue", "year"]
# The annotation job's name, and the one it was stored under before the engine ran it (old databases).
ANNOTATION_ATTACKS = ("annotation.accuracy", "annotation")

TABLES: dict[str, dict[str, object]] = {
    "models": {
        "title": "Models",
        "description": "One row per model card: identity, architecture, dataset, paper (venue, year), purpose, "
                       "weights and the published annotation. Unknown values are empty, never 0.",
        "facets": MODEL_FACETS,
        "label_column": "name",
        "sort": "id",
    },
    "model_results": {
        "title": "Results with model metadata",
        "description": "Every stored value of a finished job, with its model's dataset, family, purpose, venue "
                       "and year. origin 'measured': run here; 'published:…': imported from a published table.",
        "facets": ["attack", "metric", "origin", *MODEL_FACETS],
    },
    "results": {
        "title": "Results (long form)",
        "description": "One value per job and metric; a missing value has its reason instead.",
        "facets": ["attack", "metric", "origin"],
    },
    "jobs": {
        "title": "Jobs",
        "description": "The unit run once: model, weight hash, attack and version, parameters, seed; its status, "
                       "error, run, software version, device and times.",
        "facets": ["attack", "status", "origin"],
        "sort_desc": "id",
    },
    "runs": {"title": "Runs", "description": "One row per `securitynet evaluate` invocation.",
             "sort_desc": "started_at"},
    "artifacts": {"title": "Artifacts", "description": "Files a job kept (ROC curves, budget curves, masks), "
                                                       "with their sha256."},
    "attacks": {"title": "Attacks", "description": "What each attack that ran here declares: its family (membership, "
                                                 "stealing, backdoor...), headline metrics, which metrics are scores "
                                                 "and which way they point.", "facets": ["family"]},
    "datasets": {"title": "Datasets", "description": "The datasets the store knows."},
    "papers": {"title": "Papers", "description": "Papers with released weights (the SecurityNet New Models table)."},
    "schema_info": {"hidden": True},
}


_UNDECLARED_HEADLINE_ORDER = ("auc", "auroc", "agreement", "accuracy", "anomaly_index", "score")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


Declared = Mapping[str, tuple[str, Sequence[str], Sequence[str]]]  # attack -> (family, headline, score metrics)


def _headline(attack: str, metrics: Sequence[str], declared: Declared) -> str | None:
    """The metric a "most exposed" query ranks an attack by, as its declaration says (``declared_headline``);
    for an attack the attacks table lacks (older results, published imports), the first of a fixed order."""
    if attack in declared:
        family, headline, scores = declared[attack]
        return None if family == "annotation" else declared_headline(headline, scores, metrics)
    if attack in ANNOTATION_ATTACKS:  # annotation results are no exposure
        return None
    return next((m for m in _UNDECLARED_HEADLINE_ORDER if m in metrics), None)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def most_exposed_query(attack: str, metric: str) -> dict[str, object]:
    sql = f"""SELECT r.model_id, m.dataset, m.family, m.purpose, r.origin, j.params_hash,
       avg(r.value) AS {metric}, count(r.value) AS seeds
FROM results r JOIN jobs j ON j.id = r.job_id LEFT JOIN models m ON m.id = r.model_id
WHERE j.status = 'done' AND r.attack = {_quote(attack)} AND r.metric = {_quote(metric)} AND r.value IS NOT NULL
GROUP BY r.model_id, r.origin, j.params_hash
ORDER BY {metric} DESC, r.model_id
LIMIT 200"""
    return {"title": f"Models most exposed to {attack}",
            "description": f"Highest {metric} of {attack} first (mean over seeds, per parameter set; measured and "
                           "published rows apart).", "sql": sql}


# A measured job matches a published value when it has every parameter the published job fixes, with the same
# value (the published job's parameters are those its column fixes: the stealing run's surrogate and query set).
_PARAMS_MATCH = """
  AND NOT EXISTS (SELECT 1 FROM json_each(pj.params_json) fixed
                  WHERE json_extract(mj.params_json, '$.' || fixed.key) IS NOT fixed.value)"""


PUBLISHED_VS_MEASURED = f"""SELECT * FROM (
SELECT p.model_id AS published_model, pm.dataset, p.attack, p.metric,
       p.value AS published, avg(m.value) AS measured, avg(m.value) - p.value AS difference,
       count(m.value) AS measured_seeds, m.model_id AS measured_model, mj.params_hash AS measured_params_hash
FROM results p
JOIN jobs pj ON pj.id = p.job_id
JOIN models pm ON pm.id = p.model_id
JOIN results m ON m.origin = 'measured' AND m.attack = p.attack AND m.metric = p.metric AND m.value IS NOT NULL
  AND m.model_id = coalesce(json_extract(pm.card_json, '$.extra.securitynet.same_as'), p.model_id)
JOIN jobs mj ON mj.id = m.job_id AND mj.status = 'done'
WHERE p.origin != 'measured' AND p.value IS NOT NULL{_PARAMS_MATCH}
GROUP BY p.id, m.model_id, mj.params_hash
UNION ALL
SELECT pm.id, pm.dataset, 'annotation.accuracy', a.metric,
       CASE a.metric WHEN 'train_accuracy' THEN pm.published_train_accuracy
                     WHEN 'test_accuracy' THEN pm.published_test_accuracy
                     ELSE pm.published_overfit_gap END AS published,
       avg(a.value), avg(a.value) - CASE a.metric WHEN 'train_accuracy' THEN pm.published_train_accuracy
                     WHEN 'test_accuracy' THEN pm.published_test_accuracy ELSE pm.published_overfit_gap END,
       count(a.value), a.model_id, aj.params_hash
FROM models pm
JOIN results a ON a.origin = 'measured' AND a.attack IN ('annotation.accuracy', 'annotation')
  AND a.metric IN ('train_accuracy', 'test_accuracy', 'overfit_gap') AND a.value IS NOT NULL
  AND a.model_id = coalesce(json_extract(pm.card_json, '$.extra.securitynet.same_as'), pm.id)
JOIN jobs aj ON aj.id = a.job_id AND aj.status = 'done'
GROUP BY pm.id, a.metric, a.model_id, aj.params_hash
HAVING published IS NOT NULL
) ORDER BY abs(difference) DESC, published_model, attack, metric"""


def datasette_metadata(attacks: Sequence[tuple[str, Sequence[str]]], *,
                       declared: Declared | None = None, report_url: str | None = None,
                       source: str = "") -> dict[str, object]:
    """Metadata for a snapshot named ``securitynet.db``; ``attacks``: (attack, metrics) in the database;
    ``declared``: attack -> (family, headline metrics, score metrics) from its attacks table."""
    queries: dict[str, object] = {
        "published_vs_measured": {
            "title": "Published versus measured",
            "description": "Every published value that has a measured counterpart (the same model: the published "
                           "card's same_as, run with the parameters the published column fixes), largest "
                           "difference first. The report's table also lists published values not measured yet.",
            "sql": PUBLISHED_VS_MEASURED,
        },
        "most_exposed": {
            "title": "Models most exposed to an attack",
            "description": "Pick an attack and a metric (e.g. mia.correctness, auc).",
            "sql": most_exposed_query(":attack", ":metric")["sql"].replace("':attack'", ":attack")
                   .replace("':metric'", ":metric").replace("AS :metric", "AS value").replace(":metric DESC",
                                                                                              "value DESC"),
        },
    }
    for attack, metrics in attacks:
        metric = _headline(attack, metrics, declared or {})
        if metric:
            queries[f"most_exposed_{_slug(attack)}"] = most_exposed_query(attack, metric)
    links = "" if report_url is None else f' The <a href="{html.escape(report_url)}">analysis report</a> ' \
                                         "has the figures, statistics and the published-versus-measured table."
    description = ("Public machine-learning models, the attacks run on them and the values published by SecurityNet "
                   "(USENIX Security 2024). Read-only snapshot" + (f" of {html.escape(source)}" if source else "")
                   + "." + links)
    return {
        "title": "SecurityNet",
        "description_html": description,
        "source": "SecurityNet",
        "databases": {DATABASE: {"title": "SecurityNet store", "description_html": description,
                                 "tables": TABLES, "queries": queries}},
    }
