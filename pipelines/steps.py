"""Cluster settings applied to pipeline tasks (names from fcbench.components.cluster, sizes from
the deployment being built, pipelines/deployment.py).

Every task gets: CPU and memory requests and limits, a retry policy with backoff, a timeout,
a sized scratch emptyDir (FCBENCH_STAGE_DIR and TMPDIR point there, so staged weights and data
never land on the container's root filesystem), the persistent cache volume (FCBENCH_CACHE_DIR,
FCBENCH_OFFLINE_DIR: a retried task resumes, tracking journalled while MLflow was down survives
the pod), the image pull secrets, and the object-storage credentials and endpoints. GPU stages
also request one GPU and are scheduled onto GPU nodes. The kfp local runner ignores all of it
except the retries, which a local build leaves out.
"""
from __future__ import annotations

from kfp import kubernetes
from kfp.dsl import PipelineTask

from fcbench.codecs.common import settings
from fcbench.components import cluster
from fcbench.pipelines import deployment, kfp_speedup
from fcbench.pipelines.deployment import CACHE_PATH, SCRATCH_PATH

kfp_speedup.install()  # before any pipeline is built: every set_* call below runs the check


def with_env(task: PipelineTask) -> PipelineTask:
    """S3 credentials (Secret) and S3/MLflow endpoints (ConfigMap) as environment variables."""
    kubernetes.use_secret_as_env(task, secret_name=cluster.S3_SECRET, secret_key_to_env=dict(cluster.S3_SECRET_ENV))
    kubernetes.use_config_map_as_env(task, config_map_name=cluster.ENDPOINTS_CONFIG_MAP,
                                     config_map_key_to_env=dict(cluster.ENDPOINTS_ENV))
    return task


def deploy(task: PipelineTask, stage: str) -> PipelineTask:
    """Apply the active deployment's settings for `stage` to `task`."""
    dep = deployment.active()
    res = dep.stage(stage)
    task.set_cpu_request(res.cpu_request).set_cpu_limit(res.cpu_limit)
    task.set_memory_request(res.memory_request).set_memory_limit(res.memory_limit)
    if res.retries and not dep.local:
        task.set_retry(num_retries=res.retries, backoff_duration=dep.retry_backoff,
                       backoff_factor=dep.retry_backoff_factor, backoff_max_duration=dep.retry_backoff_max)
    kubernetes.set_timeout(task, res.timeout_s)
    kubernetes.empty_dir_mount(task, volume_name="scratch", mount_path=SCRATCH_PATH, size_limit=res.scratch)
    # Sweep workers and torch threads follow the CPU limit: torch would start one thread per core
    # of the node, throttled by the pod's quota.
    cpus = str(res.sweep_jobs())
    env = {settings.STAGE_DIR.name: f"{SCRATCH_PATH}/stage", "TMPDIR": SCRATCH_PATH,
           settings.SWEEP_JOBS.name: cpus, settings.OMP_THREADS.name: cpus}
    if dep.cache_pvc:
        kubernetes.mount_pvc(task, pvc_name=dep.cache_pvc, mount_path=CACHE_PATH)
        env.update({settings.CACHE_DIR.name: f"{CACHE_PATH}/tasks",
                    settings.OFFLINE_DIR.name: f"{CACHE_PATH}/offline-tracking"})
    if not dep.local:  # the local runner applies task variables: its tasks keep the shell's
        for name, value in env.items():
            task.set_env_variable(name, value)
    if dep.pull_secrets:
        kubernetes.set_image_pull_secrets(task, list(dep.pull_secrets))
    if res.gpus:
        task.set_accelerator_type(cluster.GPU_RESOURCE).set_accelerator_limit(res.gpus)
        kubernetes.add_node_selector(task, *cluster.GPU_NODE_LABEL)
        kubernetes.add_toleration(task, **dict(cluster.GPU_TOLERATION))
    return with_env(task)


def parallelism() -> int:
    """Concurrent iterations of a fan-out (dsl.ParallelFor) in the active deployment."""
    return deployment.active().parallelism
