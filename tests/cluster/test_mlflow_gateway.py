"""MLflow in the browser through the Kubeflow gateway (#20 item 4): the mlflow-gateway component's
VirtualService follows the overlay's namespace and reaches the MLflow Service past its Host
guard and NetworkPolicy; the cluster admin's DENY policy covers the same paths. Istio custom
resources have no schema here: their fields are checked against the Istio API's field names
(networking.istio.io/v1 VirtualService, security.istio.io/v1 AuthorizationPolicy). That MLflow
works behind the route's rewrite is checked against a real MLflow server in
test_mlflow_server.py."""
from __future__ import annotations

import os

import yaml

from fcbench.components import cluster
from tests.cluster.helpers import MANIFESTS, named, render_dir

VIRTUAL_SERVICE_FIELDS = {"hosts", "gateways", "http", "tls", "tcp", "exportTo"}
HTTP_ROUTE_FIELDS = {"name", "match", "route", "redirect", "directResponse", "delegate", "rewrite", "timeout",
                     "retries", "fault", "mirror", "mirrors", "corsPolicy", "headers"}
AUTHZ_FIELDS = {"selector", "targetRef", "targetRefs", "rules", "action", "provider"}


def gateway_overlay(kubectl, tmp_path, namespace: str = "team-alice") -> list[dict]:
    """The production overlay in another namespace with the component, as docs/cluster.md says."""
    rel = os.path.relpath(MANIFESTS, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": namespace,
        "resources": [f"{rel}/overlays/production"], "components": [f"{rel}/components/mlflow-gateway"],
        "transformers": [f"{rel}/replacements/namespace", f"{rel}/replacements/namespace-minio"]}))
    return render_dir(kubectl, tmp_path)


def routes(vs: dict) -> dict[str, dict]:
    return {r["name"]: r for r in vs["spec"]["http"]}


def test_the_route_follows_the_namespace_and_reaches_the_mlflow_service(kubectl, tmp_path):
    docs = gateway_overlay(kubectl, tmp_path)
    vs = named(docs, "VirtualService", cluster.MLFLOW_SERVICE)
    assert vs["apiVersion"] == "networking.istio.io/v1" and vs["metadata"]["namespace"] == "team-alice"
    assert set(vs["spec"]) <= VIRTUAL_SERVICE_FIELDS and vs["spec"]["gateways"] == ["kubeflow/kubeflow-gateway"]
    http = routes(vs)
    assert all(set(r) <= HTTP_ROUTE_FIELDS for r in http.values())
    assert http["mlflow-slash"]["match"] == [{"uri": {"exact": "/mlflow/team-alice"}}]
    assert http["mlflow-slash"]["redirect"] == {"uri": "/mlflow/team-alice/"}
    main = http["mlflow"]
    assert main["match"] == [{"uri": {"prefix": "/mlflow/team-alice/"}}] and main["rewrite"]["uri"] == "/"
    service = named(docs, "Service", cluster.MLFLOW_SERVICE)
    destination = main["route"][0]["destination"]
    assert destination["host"] == f"{cluster.MLFLOW_SERVICE}.team-alice.svc.cluster.local"
    assert destination["port"]["number"] in {p["port"] for p in service["spec"]["ports"]}
    # MLflow refuses unknown Host headers: the authority the route sets must be one it admits
    env = {e["name"]: e.get("value") for e in named(docs, "Deployment", cluster.MLFLOW_SERVICE)
           ["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert main["rewrite"]["authority"] in env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    # MLflow is outside the mesh: its NetworkPolicy must admit the ingress gateway's pods
    peers = [peer for rule in named(docs, "NetworkPolicy", cluster.MLFLOW_SERVICE)["spec"]["ingress"]
             for peer in rule["from"]]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}},
            "podSelector": {"matchLabels": {"istio": "ingressgateway"}}} in peers
    assert cluster.DEFAULT_NAMESPACE not in yaml.safe_dump_all(docs)


def test_overlays_without_the_component_have_no_route(kubectl, tmp_path):
    from tests.cluster.helpers import render

    assert not [d for d in render(kubectl, "overlays/production") if d["kind"] == "VirtualService"]


def test_the_admin_policy_denies_everyone_but_the_profile_users_on_those_paths(kubectl, tmp_path):
    docs = render_dir(kubectl, MANIFESTS / "cluster-admin" / "mlflow-access")
    [policy] = docs
    assert policy["apiVersion"] == "security.istio.io/v1" and policy["kind"] == "AuthorizationPolicy"
    assert policy["metadata"]["namespace"] == "istio-system"  # where the gateway is: an admin applies it
    spec = policy["spec"]
    assert set(spec) <= AUTHZ_FIELDS
    assert spec["action"] == "DENY"  # an ALLOW policy on the gateway would refuse the rest of Kubeflow
    assert spec["selector"] == {"matchLabels": {"istio": "ingressgateway"}}
    [rule] = spec["rules"]
    [operation] = rule["to"]
    # the same paths as the component's route, for the namespace the admin fills in
    route = routes(named(gateway_overlay(kubectl, tmp_path, "CHANGE_ME"), "VirtualService", cluster.MLFLOW_SERVICE))
    assert set(operation["operation"]["paths"]) == {route["mlflow-slash"]["match"][0]["uri"]["exact"],
                                                    route["mlflow"]["match"][0]["uri"]["prefix"] + "*"}
    assert rule["when"] == [{"key": "request.headers[kubeflow-userid]", "notValues": ["CHANGE_ME@example.com"]}]
    assert "CHANGE_ME" in policy["metadata"]["name"]
