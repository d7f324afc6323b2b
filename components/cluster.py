"""Names shared by the cluster manifests (manifests/) and the pipelines' kfp-kubernetes settings.

The manifests create these objects; the pipelines refer to them by name when they compile
(`kubernetes.use_secret_as_env`, `use_config_map_as_env`, `add_node_selector`,
`add_toleration`). Keeping the names here, and checking them against the rendered manifests in
tests/cluster, means a rename cannot silently break a run on the cluster. Plain data only: this
module imports nothing from kfp (only the settings table, for the variable names) so that it can
be read anywhere.
"""
from __future__ import annotations

from typing import Final, Mapping

from fcbench.codecs.common import settings  # the variables' one definition (standard library only)

# Kubeflow's default profile namespace: KFP v2 runs pods, reads `kfp-launcher` and resolves
# secrets in the namespace of the run, so everything fcbench needs lives there.
DEFAULT_NAMESPACE: Final = "kubeflow-user-example-com"

# Pipeline runs are submitted with this service account (manifests/base/rbac.yaml).
SERVICE_ACCOUNT: Final = "fcbench-pipeline-runner"

# Object storage credentials: Secret name and key -> environment variable in the step.
S3_SECRET: Final = "fcbench-s3"
S3_SECRET_ENV: Final[Mapping[str, str]] = {
    "accesskey": settings.S3_ACCESS_KEY.name,
    "secretkey": settings.S3_SECRET_KEY.name,
}

# MinIO's root user: only MinIO and its setup Job read it; the pipelines and MLflow get users of
# their own, each limited to its bucket (manifests/components/minio/buckets-job.yaml).
MINIO_ROOT_SECRET: Final = "fcbench-minio-root"
MINIO_ROOT_SECRET_KEYS: Final = ("rootuser", "rootpassword")
MLFLOW_S3_SECRET: Final = "fcbench-mlflow-s3"  # MLflow's artifact store user: accesskey, secretkey

# Image pull secret of the private registry holding the codec image (it contains the user's VTM).
REGISTRY_SECRET: Final = "fcbench-registry"
# ReadWriteMany volume every task mounts: codec job cache, training checkpoints, offline tracking.
CACHE_PVC: Final = "fcbench-cache"

# Postgres credentials for the MLflow backend store (used by the manifests only).
POSTGRES_SECRET: Final = "fcbench-postgres"
POSTGRES_SECRET_KEYS: Final = ("username", "password")

# Endpoints: ConfigMap whose keys are the environment variable names themselves.
ENDPOINTS_CONFIG_MAP: Final = "fcbench-endpoints"
# The two UI URLs are for links in reports and MLflow runs (empty = no links).
ENDPOINTS_ENV: Final[Mapping[str, str]] = {
    s.name: s.name for s in (settings.S3_ENDPOINT, settings.S3_SECURE, settings.TRACKING_URI, settings.KFP_UI_URL,
                             settings.MLFLOW_UI_URL)
}

# In-cluster service names (the base manifests; existing-s3 replaces the MinIO endpoint).
MINIO_SERVICE: Final = "fcbench-minio"
MLFLOW_SERVICE: Final = "fcbench-mlflow"
POSTGRES_SERVICE: Final = "fcbench-postgres"


def service_host(name: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    """The cluster FQDN of a Service: what clients outside its namespace (the KFP launcher runs
    code from the kubeflow namespace's images, the UI's artifact server) can resolve."""
    return f"{name}.{namespace}.svc.cluster.local"


# Pods outside the pipelines that may reach MinIO and MLflow (a notebook, a debug pod) carry this
# label (manifests/base/networkpolicies.yaml); the notebook-access PodDefault selects on it.
CLIENT_LABEL: Final[tuple[str, str]] = ("fcbench.io/client", "true")

# Pipeline pods (Argo workflow pods: KFP's driver, launcher and the steps) carry this label key;
# the NetworkPolicies admit them to MinIO and MLflow.
WORKFLOW_POD_LABEL: Final = "workflows.argoproj.io/workflow"

# Buckets: features and reports, MLflow artifacts. The KFP pipeline root is a prefix of the first.
DATA_BUCKET: Final = "fcbench"
MLFLOW_BUCKET: Final = "mlflow"
PIPELINE_ROOT: Final = f"s3://{DATA_BUCKET}/pipeline-root"
KFP_LAUNCHER_CONFIG_MAP: Final = "kfp-launcher"  # fixed by KFP: the launcher looks for this name

# GPU steps: scheduled on nodes labelled by NVIDIA GPU feature discovery (GPU operator), and
# allowed onto nodes tainted for GPU work. kfp-kubernetes: add_node_selector(task, *GPU_NODE_LABEL),
# add_toleration(task, **GPU_TOLERATION); plus task.set_accelerator_type(GPU_RESOURCE).
GPU_RESOURCE: Final = "nvidia.com/gpu"
GPU_NODE_LABEL: Final[tuple[str, str]] = ("nvidia.com/gpu.present", "true")
GPU_TOLERATION: Final[Mapping[str, str]] = {
    "key": "nvidia.com/gpu",
    "operator": "Exists",
    "effect": "NoSchedule",
}
