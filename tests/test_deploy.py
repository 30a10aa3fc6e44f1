"""The shipped Prometheus rules and Grafana dashboard name only metrics the code exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import REGISTRY, CollectorRegistry

import ceir.eir.diameter  # noqa: F401  (registers the S13 metrics in the default registry)
from ceir.eir.http import EirMetrics
from ceir.eir.index import IndexHolder
from ceir.eir.node import NodeSettings, NodeSync
from ceir.eir.sync import CENTRAL_METRICS
from ceir.web.metrics import Metrics

DEPLOY = Path(__file__).parents[1] / "deploy"
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported_series() -> set[str]:
    node_registry = CollectorRegistry()
    NodeSync(
        IndexHolder(),
        NodeSettings("http://centre", "key", Ed25519PrivateKey.generate().public_key(), Path(".")),
        registry=node_registry,
    )
    registries = [EirMetrics().registry, Metrics().registry, node_registry, REGISTRY]
    names = set(CENTRAL_METRICS)
    for registry in registries:
        for family in registry.collect():
            names.update(family.name + s for s in _SUFFIXES.get(family.type, ("",)))
    return names


def _ceir_names(expression: str) -> set[str]:
    return set(re.findall(r"\b(ceir_[a-z0-9_]+)", expression))


def test_alert_rules_are_valid_and_name_only_exported_metrics() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exported = exported_series()
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {"CeirEirNodeStale", "CeirEirNodeNoSuccessfulSync", "CeirEirErrorRate"} <= {
        a["alert"] for a in alerts
    }
    for alert in alerts:
        assert set(alert) <= {"alert", "expr", "for", "labels", "annotations"}, alert["alert"]
        assert alert["labels"]["severity"] in {"page", "ticket"}
        unknown = _ceir_names(alert["expr"]) - exported
        assert not unknown, f"{alert['alert']} names metrics nobody exports: {unknown}"
        assert "up{" not in alert["expr"] or "job=" in alert["expr"]


def test_dashboard_is_valid_json_and_names_only_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "ceir-eir.json").read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    assert expressions
    unknown = set().union(*(_ceir_names(e) for e in expressions)) - exported_series()
    assert not unknown, unknown
