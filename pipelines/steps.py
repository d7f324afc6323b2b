"""Cluster settings applied to pipeline tasks (names from fcbench.components.cluster).

Every task gets the object-storage credentials and endpoints as environment variables; GPU
tasks (extract, hyperprior_train, evaluate) also request one GPU and are scheduled onto GPU
nodes. The kfp local runner ignores these settings; they matter on Kubeflow.
"""
from __future__ import annotations

from kfp import kubernetes
from kfp.dsl import PipelineTask

from fcbench.components import cluster


def with_env(task: PipelineTask) -> PipelineTask:
    """S3 credentials (Secret) and S3/MLflow endpoints (ConfigMap) as environment variables."""
    kubernetes.use_secret_as_env(task, secret_name=cluster.S3_SECRET, secret_key_to_env=dict(cluster.S3_SECRET_ENV))
    kubernetes.use_config_map_as_env(task, config_map_name=cluster.ENDPOINTS_CONFIG_MAP,
                                     config_map_key_to_env=dict(cluster.ENDPOINTS_ENV))
    return task


def on_gpu(task: PipelineTask) -> PipelineTask:
    """One GPU, a GPU node, and the toleration of GPU node taints."""
    task.set_accelerator_type(cluster.GPU_RESOURCE).set_accelerator_limit(1)
    kubernetes.add_node_selector(task, *cluster.GPU_NODE_LABEL)
    kubernetes.add_toleration(task, **dict(cluster.GPU_TOLERATION))
    return with_env(task)


def on_cpu(task: PipelineTask) -> PipelineTask:
    return with_env(task)
