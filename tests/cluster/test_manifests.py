"""Render every kustomize overlay with kubectl, validate it strictly, and check the invariants
that a cluster run depends on (names shared with components/cluster.py, no credentials, pinned
images, resources, non-root pods, consistent endpoints)."""
from __future__ import annotations

import copy
import re
from pathlib import Path
from urllib.parse import urlparse

import kubernetes_validate
import pytest
import yaml

from fcbench.components import cluster
from tests.cluster.helpers import (
    OVERLAYS,
    OWN_MINIO_OVERLAYS,
    SECRETS_TEMPLATE,
    containers,
    named,
    of_kind,
    pod_specs,
    render,
)

# Oldest and newest Kubernetes the manifests are meant for (kubernetes-validate's schemas).
K8S_VERSIONS = ("1.29.0", "1.37.0")
# Custom resources cannot be checked by kubernetes-validate; none is expected. A CRD-backed
# document added later fails test_validates until it is listed here on purpose.
EXPECTED_CUSTOM_KINDS: set[str] = set()


def _validate(doc: dict, version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.slow  # kubectl renders and validates every overlay
@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("kustomization", OVERLAYS + (SECRETS_TEMPLATE,))
def test_validates(kubectl, kustomization, version):
    custom = []
    for doc in render(kubectl, kustomization):
        try:
            _validate(doc, version)
        except kubernetes_validate.SchemaNotFoundError:
            custom.append(doc["kind"])  # a CRD: skipped explicitly, see EXPECTED_CUSTOM_KINDS
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{kustomization}: {doc['kind']}/{doc['metadata']['name']} is invalid for k8s {version}: {exc}")
    assert set(custom) <= EXPECTED_CUSTOM_KINDS, f"unvalidated custom kinds in {kustomization}: {custom}"


def test_strict_validation_is_live(kubectl):
    """The validator rejects a misspelt field: a green test_validates means something."""
    deployment = copy.deepcopy(named(render(kubectl, "overlays/local"), "Deployment", "fcbench-mlflow"))
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}  # typo of `resources`
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment, K8S_VERSIONS[-1])


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_overlays_carry_no_secrets(kubectl, kustomization):
    """Applying an overlay must never create or overwrite credentials."""
    assert of_kind(render(kubectl, kustomization), "Secret") == []


def test_secret_template_holds_placeholders_only(kubectl):
    secrets = of_kind(render(kubectl, SECRETS_TEMPLATE), "Secret")
    assert {s["metadata"]["name"] for s in secrets} == {cluster.S3_SECRET, cluster.POSTGRES_SECRET, cluster.MLFLOW_S3_SECRET,
                                                      cluster.MINIO_ROOT_SECRET, cluster.REGISTRY_SECRET}
    for s in secrets:
        assert s["metadata"]["annotations"]["fcbench/template"] == "true"
        assert "data" not in s, "templates use stringData placeholders, never encoded values"
        assert set(s["stringData"].values()) == {"CHANGE_ME"}, s["metadata"]["name"]
    keys = {s["metadata"]["name"]: set(s["stringData"]) for s in secrets}
    assert keys[cluster.S3_SECRET] == set(cluster.S3_SECRET_ENV)
    assert keys[cluster.POSTGRES_SECRET] == set(cluster.POSTGRES_SECRET_KEYS)
    assert keys[cluster.MINIO_ROOT_SECRET] == set(cluster.MINIO_ROOT_SECRET_KEYS)


def _template_keys(kubectl) -> dict[str, set[str]]:
    return {s["metadata"]["name"]: set(s["stringData"]) for s in of_kind(render(kubectl, SECRETS_TEMPLATE), "Secret")}


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_every_secret_reference_is_in_the_template(kubectl, kustomization):
    templates = _template_keys(kubectl)
    refs = []
    for owner, c in containers(render(kubectl, kustomization)):
        for env in c.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                refs.append((owner, ref["name"], ref["key"]))
    launcher = _providers(render(kubectl, kustomization))["s3"]["default"]["credentials"]["secretRef"]
    refs += [("kfp-launcher", launcher["secretName"], launcher[k]) for k in ("accessKeyKey", "secretKeyKey")]
    assert refs
    for owner, name, key in refs:
        assert key in templates.get(name, set()), f"{owner} reads secret {name}/{key}, which the template lacks"


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_every_config_map_reference_resolves(kubectl, kustomization):
    docs = render(kubectl, kustomization)
    data = {cm["metadata"]["name"]: cm.get("data", {}) for cm in of_kind(docs, "ConfigMap")}
    for owner, c in containers(docs):
        for env in c.get("env", []):
            ref = env.get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                assert ref["key"] in data.get(ref["name"], {}), f"{owner}: missing configmap {ref['name']}/{ref['key']}"


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_argument_variables_are_defined(kubectl, kustomization):
    """Kubernetes leaves an undefined $(VAR) in args verbatim: a silent broken URI."""
    for owner, c in containers(render(kubectl, kustomization)):
        defined = {e["name"] for e in c.get("env", [])}
        for arg in c.get("command", []) + c.get("args", []):
            for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", arg):
                assert var in defined, f"{owner}: $({var}) in {arg!r} is not in env"


_PINNED_TAG = re.compile(r"^[^@:]+(:[0-9][A-Za-z0-9_.-]*|:RELEASE\.[0-9TZ-]+)?(@sha256:[0-9a-f]{64})?$")


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_images_are_pinned(kubectl, kustomization):
    for owner, c in containers(render(kubectl, kustomization)):
        image = c["image"]
        tag = image.rsplit("/", 1)[-1]
        assert ":" in tag or "@sha256:" in image, f"{owner}: {image} has no tag"
        assert not image.endswith(":latest"), f"{owner}: {image} floats"
        assert _PINNED_TAG.match(image), f"{owner}: {image} is not pinned to a version or digest"


def test_mlflow_image_is_this_release(kubectl):
    from fcbench.components.stages.container_images import DEFAULT_REGISTRY, default_tag

    mlflow = named(render(kubectl, "overlays/local"), "Deployment", "fcbench-mlflow")
    image = mlflow["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{DEFAULT_REGISTRY}/fcbench-mlflow:{default_tag()}"


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_every_container_has_resources(kubectl, kustomization):
    for owner, c in containers(render(kubectl, kustomization)):
        res = c.get("resources", {})
        assert {"cpu", "memory"} <= set(res.get("requests", {})), f"{owner}: requests cpu and memory"
        assert "memory" in res.get("limits", {}), f"{owner}: memory limit"


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_pods_run_unprivileged(kubectl, kustomization):
    docs = render(kubectl, kustomization)
    for owner, spec in pod_specs(docs):
        assert spec["securityContext"]["runAsNonRoot"] is True, owner
        assert spec["securityContext"]["runAsUser"] != 0, owner
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, owner
        assert spec["automountServiceAccountToken"] is False, f"{owner} needs no API access"
    for owner, c in containers(docs):
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"], owner


# Where each container writes outside its read-only root filesystem (what its image and
# arguments make it write: MLflow's temporary files and $HOME caches, Postgres's socket, MinIO's
# data and --certs-dir, mc's --config-dir).
WRITES = {"mlflow": {"/tmp", "/home/mlflow"}, "postgres": {"/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"},
          "minio": {"/data", "/tmp"}, "mc": {"/tmp"}, "wait-for-postgres": set()}


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_root_filesystems_are_read_only_and_writes_go_to_volumes(kubectl, kustomization):
    docs = render(kubectl, kustomization)
    for owner, spec in pod_specs(docs):
        volumes = {v["name"] for v in spec.get("volumes", [])} | {
            t["metadata"]["name"] for t in (dict(docs_of(docs, owner)).get("volumeClaimTemplates") or [])}
        for c in spec.get("initContainers", []) + spec["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, f"{owner}/{c['name']}"
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            assert WRITES[c["name"]] <= set(mounts), f"{owner}/{c['name']} writes outside its volumes"
            assert set(mounts.values()) <= volumes, f"{owner}/{c['name']} mounts an undefined volume"


def docs_of(docs: list[dict], owner: str) -> dict:
    """The workload spec (`spec` of the Deployment/StatefulSet/Job) named by `owner` (Kind/name)."""
    kind, name = owner.split("/")
    return named(docs, kind, name)["spec"]


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_pods_stay_out_of_the_mesh(kubectl, kustomization):
    """KFP's pipeline pods have no Istio sidecar; a sidecar'd MinIO/MLflow in a Kubeflow profile
    namespace would refuse their plain-text requests, and a sidecar never lets a Job finish."""
    for d in render(kubectl, kustomization):
        if d["kind"] in ("Deployment", "StatefulSet", "Job"):
            annotations = d["spec"]["template"]["metadata"].get("annotations", {})
            assert annotations.get("sidecar.istio.io/inject") == "false", f"{d['kind']}/{d['metadata']['name']}"


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_mlflow_arguments_survive_the_patches(kubectl, kustomization):
    """Overlays replace the --workers argument by index: every flag must still be there once."""
    args = named(render(kubectl, kustomization), "Deployment", cluster.MLFLOW_SERVICE)["spec"]["template"]["spec"]["containers"][0]["args"]
    flags = sorted(a.split("=", 1)[0] for a in args)
    assert flags == sorted(["--artifacts-destination", "--host", "--port", "--workers"])


def test_local_overlay_is_smaller_than_production(kubectl):
    def storage(kustomization, name):
        sts = named(render(kubectl, kustomization), "StatefulSet", name)
        return _quantity(sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"])

    for name in ("fcbench-minio", "fcbench-postgres"):
        assert storage("overlays/local", name) < storage("overlays/production", name)
    assert named(render(kubectl, "overlays/production"), "Deployment", "fcbench-mlflow")["spec"]["replicas"] == 2


def _quantity(text: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    number, unit = re.fullmatch(r"(\d+)([KMGT]i)", text).groups()
    return int(number) * units[unit]


# --- names shared with the pipelines (components/cluster.py) -------------------------------


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_names_match_cluster_module(kubectl, kustomization):
    docs = render(kubectl, kustomization)
    assert {d["metadata"].get("namespace") for d in docs} == {cluster.DEFAULT_NAMESPACE}
    named(docs, "ServiceAccount", cluster.SERVICE_ACCOUNT)
    binding = named(docs, "RoleBinding", cluster.SERVICE_ACCOUNT)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": cluster.SERVICE_ACCOUNT, "namespace": cluster.DEFAULT_NAMESPACE}
    ]
    endpoints = named(docs, "ConfigMap", cluster.ENDPOINTS_CONFIG_MAP)["data"]
    assert set(cluster.ENDPOINTS_ENV) <= set(endpoints)
    named(docs, "ConfigMap", cluster.KFP_LAUNCHER_CONFIG_MAP)
    services = {s["metadata"]["name"] for s in of_kind(docs, "Service")}
    assert {cluster.MLFLOW_SERVICE, cluster.POSTGRES_SERVICE} <= services
    assert endpoints["MLFLOW_TRACKING_URI"] == f"http://{cluster.service_host(cluster.MLFLOW_SERVICE)}:5000"


@pytest.mark.parametrize("kustomization", OWN_MINIO_OVERLAYS)
def test_own_minio_buckets_and_roots(kubectl, kustomization):
    docs = render(kubectl, kustomization)
    named(docs, "Service", cluster.MINIO_SERVICE)
    endpoints = named(docs, "ConfigMap", cluster.ENDPOINTS_CONFIG_MAP)["data"]
    assert endpoints["FCBENCH_S3_ENDPOINT"] == f"{cluster.service_host(cluster.MINIO_SERVICE)}:9000"
    launcher = named(docs, "ConfigMap", cluster.KFP_LAUNCHER_CONFIG_MAP)["data"]
    assert launcher["defaultPipelineRoot"] == cluster.PIPELINE_ROOT
    job = named(docs, "Job", "fcbench-minio-buckets")
    script = " ".join(job["spec"]["template"]["spec"]["containers"][0]["command"])
    mb_line = next(line for line in script.splitlines() if " mb " in line)
    created = set(re.findall(r"fcbench/([a-z0-9.-]+)", mb_line.split(" mb ", 1)[1]))
    assert created == {cluster.DATA_BUCKET, cluster.MLFLOW_BUCKET}
    assert urlparse(endpoints["MLFLOW_ARTIFACTS_DESTINATION"]).netloc == cluster.MLFLOW_BUCKET


def test_existing_s3_has_no_minio(kubectl):
    docs = render(kubectl, "overlays/existing-s3")
    assert not [d for d in docs if "minio" in d["metadata"]["name"]]


def _providers(docs) -> dict:
    return yaml.safe_load(named(docs, "ConfigMap", cluster.KFP_LAUNCHER_CONFIG_MAP)["data"]["providers"])


# Field names of KFP's S3ProviderConfig (backend/src/v2/config/s3.go). Go's JSON decoding drops
# unknown fields silently, so a misspelt key would quietly fall back to a default.
_S3_DEFAULT_KEYS = {"endpoint", "credentials", "region", "disableSSL", "forcePathStyle", "maxRetries"}
_S3_CREDENTIAL_KEYS = {"fromEnv", "secretRef"}
_S3_SECRET_REF_KEYS = {"secretName", "accessKeyKey", "secretKeyKey"}


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_launcher_providers_use_kfp_field_names(kubectl, kustomization):
    providers = _providers(render(kubectl, kustomization))
    assert set(providers) == {"s3"}
    default = providers["s3"]["default"]
    assert set(default) <= _S3_DEFAULT_KEYS and {"endpoint", "credentials"} <= set(default)
    assert set(default["credentials"]) <= _S3_CREDENTIAL_KEYS
    assert set(default["credentials"]["secretRef"]) == _S3_SECRET_REF_KEYS
    assert isinstance(default["disableSSL"], bool) and isinstance(default["forcePathStyle"], bool)
    assert "://" not in default["endpoint"], "KFP wants host:port here, the scheme comes from disableSSL"


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_launcher_and_steps_use_the_same_object_store(kubectl, kustomization):
    """The endpoint is written twice (the launcher's config is a YAML string): keep them equal."""
    docs = render(kubectl, kustomization)
    endpoints = named(docs, "ConfigMap", cluster.ENDPOINTS_CONFIG_MAP)["data"]
    launcher_cm = named(docs, "ConfigMap", cluster.KFP_LAUNCHER_CONFIG_MAP)["data"]
    s3 = _providers(docs)["s3"]["default"]
    secure = {"true": True, "false": False}[endpoints["FCBENCH_S3_SECURE"]]
    assert s3["endpoint"] == endpoints["FCBENCH_S3_ENDPOINT"]
    assert s3["disableSSL"] is (not secure)
    assert s3["credentials"]["fromEnv"] is False
    assert s3["credentials"]["secretRef"]["secretName"] == cluster.S3_SECRET
    mlflow_s3 = urlparse(endpoints["MLFLOW_S3_ENDPOINT_URL"])
    assert mlflow_s3.netloc == endpoints["FCBENCH_S3_ENDPOINT"]
    assert mlflow_s3.scheme == ("https" if secure else "http")
    root = urlparse(launcher_cm["defaultPipelineRoot"])
    artifacts = urlparse(endpoints["MLFLOW_ARTIFACTS_DESTINATION"])
    assert root.scheme == artifacts.scheme == "s3" and root.netloc and artifacts.netloc


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_services_reach_their_pods(kubectl, kustomization):
    docs = render(kubectl, kustomization)
    pods = [(d["spec"]["template"]["metadata"]["labels"], d["spec"]["template"]["spec"])
            for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    for svc in of_kind(docs, "Service"):
        selector = svc["spec"]["selector"]
        targets = [spec for labels, spec in pods if selector.items() <= labels.items()]
        assert len(targets) == 1, f"Service {svc['metadata']['name']} selects {len(targets)} workloads"
        port_names = {p["name"] for c in targets[0]["containers"] for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"{svc['metadata']['name']}: no container port {port['targetPort']}"


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_statefulset_service_names(kubectl, kustomization):
    docs = render(kubectl, kustomization)
    services = {s["metadata"]["name"] for s in of_kind(docs, "Service")}
    for sts in of_kind(docs, "StatefulSet"):
        assert sts["spec"]["serviceName"] in services


def test_cluster_module_fits_kfp_kubernetes():
    """The constants are accepted by the kfp-kubernetes calls the pipelines make with them."""
    from kfp import compiler, dsl, kubernetes

    @dsl.component(base_image="python:3.11.13-slim-bookworm")
    def step():  # no annotation: kfp reads the string "None" as an artifact type
        pass

    @dsl.pipeline(name="cluster-settings", pipeline_root=cluster.PIPELINE_ROOT)
    def pipe():
        task = step()
        kubernetes.use_secret_as_env(task, secret_name=cluster.S3_SECRET, secret_key_to_env=dict(cluster.S3_SECRET_ENV))
        kubernetes.use_config_map_as_env(task, config_map_name=cluster.ENDPOINTS_CONFIG_MAP,
                                         config_map_key_to_env=dict(cluster.ENDPOINTS_ENV))
        kubernetes.add_node_selector(task, *cluster.GPU_NODE_LABEL)
        kubernetes.add_toleration(task, **cluster.GPU_TOLERATION)
        task.set_accelerator_type(cluster.GPU_RESOURCE).set_accelerator_limit(1)

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "p.yaml"
        compiler.Compiler().compile(pipe, str(out))
        docs = list(yaml.safe_load_all(out.read_text()))
    spec, platform = docs[0], docs[1]
    assert spec["defaultPipelineRoot"] == cluster.PIPELINE_ROOT
    executor = next(iter(platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values()))
    assert executor["nodeSelector"]["labels"] == {cluster.GPU_NODE_LABEL[0]: cluster.GPU_NODE_LABEL[1]}
    assert executor["tolerations"] == [dict(cluster.GPU_TOLERATION)]
    assert {e["secretName"] for e in executor["secretAsEnv"]} == {cluster.S3_SECRET}


# ---- what a security review looks for (issue #11 part 5) ---------------------------------------
def _env(container: dict) -> dict:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_in_cluster_endpoints_are_fqdns(kubectl, kustomization):
    """kfp-launcher (and everything else) reaches MinIO/MLflow by the cluster FQDN: a short name does
    not resolve from other namespaces."""
    docs = render(kubectl, kustomization)
    endpoints = named(docs, "ConfigMap", cluster.ENDPOINTS_CONFIG_MAP)["data"]
    launcher = _providers(docs)["s3"]["default"]["endpoint"]
    for host in (launcher, endpoints["FCBENCH_S3_ENDPOINT"], urlparse(endpoints["MLFLOW_TRACKING_URI"]).netloc):
        name = host.split(":")[0]
        assert "." in name, f"{host} is a short name"
        if name.endswith(".svc.cluster.local"):
            assert name.split(".")[1] == cluster.DEFAULT_NAMESPACE, f"{host}: not the overlay's namespace"


@pytest.mark.parametrize("kustomization", OWN_MINIO_OVERLAYS)
def test_pipelines_and_mlflow_use_least_privilege_minio_users(kubectl, kustomization):
    docs = render(kubectl, kustomization)
    root_readers = set()
    for kind, name, spec in [(d["kind"], d["metadata"]["name"], d["spec"]["template"]["spec"])
                             for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]:
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef", {})
                if ref.get("name") == cluster.MINIO_ROOT_SECRET:
                    root_readers.add(f"{kind}/{name}")
    assert root_readers == {"StatefulSet/fcbench-minio", "Job/fcbench-minio-buckets"}
    mlflow = named(docs, "Deployment", cluster.MLFLOW_SERVICE)["spec"]["template"]["spec"]["containers"][0]
    assert _env(mlflow)["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == cluster.MLFLOW_S3_SECRET
    script = named(docs, "Job", "fcbench-minio-buckets")["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert "policy fcbench-pipelines fcbench" in script and "policy fcbench-mlflow mlflow" in script
    assert 'user "$PIPELINES_KEY" "$PIPELINES_SECRET" fcbench-pipelines' in script


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_postgres_password_is_not_on_a_command_line(kubectl, kustomization):
    for _, spec in pod_specs(render(kubectl, kustomization)):
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            line = " ".join(c.get("command", []) + c.get("args", []))
            assert "PGPASSWORD" not in line and "POSTGRES_PASSWORD" not in line and "postgresql://" not in line, c["name"]


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_runner_role_reads_only_its_secret(kubectl, kustomization):
    role = named(render(kubectl, kustomization), "Role", cluster.SERVICE_ACCOUNT)
    secret_rules = [r for r in role["rules"] if "secrets" in r["resources"]]
    assert secret_rules and all(r.get("resourceNames") == [cluster.S3_SECRET] and r["verbs"] == ["get"]
                                for r in secret_rules)


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_network_policies_guard_every_service(kubectl, kustomization):
    docs = render(kubectl, kustomization)
    policies = {p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]: p for p in of_kind(docs, "NetworkPolicy")}
    services = {s["metadata"]["name"] for s in of_kind(docs, "Service")}
    assert services <= set(policies), f"services without a NetworkPolicy: {services - set(policies)}"
    postgres = policies[cluster.POSTGRES_SERVICE]["spec"]["ingress"]
    assert [f["podSelector"]["matchLabels"] for rule in postgres for f in rule["from"]] == [
        {"app.kubernetes.io/name": cluster.MLFLOW_SERVICE}]
    for name in services - {cluster.POSTGRES_SERVICE}:
        sources = [f for rule in policies[name]["spec"]["ingress"] for f in rule["from"]]
        assert {"key": cluster.WORKFLOW_POD_LABEL, "operator": "Exists"} in [
            e for f in sources for e in f.get("podSelector", {}).get("matchExpressions", [])], name
        assert all(f.get("podSelector") or f.get("namespaceSelector") for f in sources), "an open rule"


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_cache_volume_and_ephemeral_storage_defaults(kubectl, kustomization):
    from fcbench.pipelines.deployment import DEFAULT

    docs = render(kubectl, kustomization)
    pvc = named(docs, "PersistentVolumeClaim", DEFAULT.cache_pvc)
    assert pvc["spec"]["accessModes"] == (["ReadWriteOnce"] if kustomization == "overlays/local" else ["ReadWriteMany"])
    limits = named(docs, "LimitRange", "fcbench-ephemeral-storage")["spec"]["limits"][0]
    assert "ephemeral-storage" in limits["defaultRequest"] and "ephemeral-storage" in limits["default"]


@pytest.mark.parametrize("overlay, minio", [("overlays/local", True), ("overlays/production", True),
                                            ("overlays/existing-s3", False)])
def test_another_namespace_is_set_once_and_every_endpoint_follows(kubectl, tmp_path, overlay, minio):
    """#20 item 4: an overlay of a shipped one that sets `namespace: team-alice` (and lists the
    replacement transformers, as docs/cluster.md says) leaves no endpoint in the old namespace."""
    import os
    import subprocess

    from tests.cluster.helpers import MANIFESTS

    rel = os.path.relpath(MANIFESTS, tmp_path)
    transformers = [f"{rel}/replacements/namespace"] + ([f"{rel}/replacements/namespace-minio"] if minio else [])
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(
        {"namespace": "team-alice", "resources": [f"{rel}/{overlay}"], "transformers": transformers}))
    text = subprocess.run([str(kubectl), "kustomize", str(tmp_path)], capture_output=True, text=True, check=True).stdout
    assert "kubeflow-user-example-com" not in text
    assert "fcbench-mlflow.team-alice.svc.cluster.local" in text
    assert ("fcbench-minio.team-alice.svc.cluster.local" in text) is minio
