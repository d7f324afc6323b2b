"""The notebook-access component (#20 item 4): a Kubeflow PodDefault that gives a notebook the
steps' environment and the label the NetworkPolicies admit. PodDefault is a custom resource, so
it is checked against the fields of the Kubeflow admission webhook's CRD, and its env entries as a
Pod's, strictly, by kubernetes-validate."""
from __future__ import annotations

import os

import kubernetes_validate
import yaml

from fcbench.components import cluster
from tests.cluster.helpers import MANIFESTS, named, render_dir

# spec fields of poddefaults.kubeflow.org/v1alpha1 (kubeflow/kubeflow components/admission-webhook CRD)
PODDEFAULT_SPEC_FIELDS = {"desc", "serviceAccountName", "automountServiceAccountToken", "env", "envFrom", "selector",
                          "volumeMounts", "volumes"}


def _rendered(kubectl, tmp_path) -> list[dict]:
    """An overlay of the production one in another namespace, with the component added, as
    docs/cluster.md says."""
    rel = os.path.relpath(MANIFESTS, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": "team-alice",
        "resources": [f"{rel}/overlays/production"], "components": [f"{rel}/components/notebook-access"],
        "transformers": [f"{rel}/replacements/namespace", f"{rel}/replacements/namespace-minio"]}))
    return render_dir(kubectl, tmp_path)


def test_the_pod_default_gives_a_notebook_what_the_steps_get(kubectl, tmp_path):
    docs = _rendered(kubectl, tmp_path)
    pd = named(docs, "PodDefault", "fcbench-access")
    assert pd["apiVersion"] == "kubeflow.org/v1alpha1" and pd["metadata"]["namespace"] == "team-alice"
    spec = pd["spec"]
    assert set(spec) <= PODDEFAULT_SPEC_FIELDS and "selector" in spec
    assert spec["selector"] == {"matchLabels": {cluster.CLIENT_LABEL[0]: cluster.CLIENT_LABEL[1]}}
    env = {e["name"]: e["valueFrom"] for e in spec["env"]}
    from_config = {n: v["configMapKeyRef"] for n, v in env.items() if "configMapKeyRef" in v}
    assert from_config == {k: {"name": cluster.ENDPOINTS_CONFIG_MAP, "key": k} for k in cluster.ENDPOINTS_ENV}
    from_secret = {n: v["secretKeyRef"] for n, v in env.items() if "secretKeyRef" in v}
    assert from_secret == {var: {"name": cluster.S3_SECRET, "key": key} for key, var in cluster.S3_SECRET_ENV.items()}
    named(docs, "ConfigMap", cluster.ENDPOINTS_CONFIG_MAP)  # what it refers to is in the same overlay
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "notebook"},
           "spec": {"containers": [{"name": "notebook", "image": "jupyter:1", "env": spec["env"]}]}}
    kubernetes_validate.validate(pod, "1.37.0", strict=True)


def test_the_network_policies_admit_what_the_pod_default_selects(kubectl, tmp_path):
    docs = _rendered(kubectl, tmp_path)
    label = {cluster.CLIENT_LABEL[0]: cluster.CLIENT_LABEL[1]}
    admitted = [peer.get("podSelector", {}).get("matchLabels") for policy in docs if policy["kind"] == "NetworkPolicy"
                for rule in policy["spec"].get("ingress", []) for peer in rule.get("from", [])]
    assert label in admitted
