"""fcbench.machines: split models, feature extraction and task evaluation (pure: no kfp,
mlflow or minio imports)."""
from fcbench.machines.base import Evaluation, Machine, Metric, feature_mse, get_machine, machine_names, register_machine

__all__ = ["Evaluation", "Machine", "Metric", "feature_mse", "get_machine", "machine_names", "register_machine"]
