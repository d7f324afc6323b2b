"""KFP component `klt_fit`: fit the klt codec's table on a training feature set (never on what is
measured) -> the table as a Model artifact; with a `storage_uri` also published under
<model>/<task>/klt/table.npz, with tracking a run of the pipeline's MLflow parent run that
registers it as a new version of fcbench-<model>-<task>-klt (a codec entry's `table` then takes
the models:/ URI or the s3:// one).

Resumable like the hyperprior training: with FCBENCH_CACHE_DIR the table is fitted in a folder
keyed by the training set and the options, so a retried task finds it done.
"""
from typing import Any

from kfp.dsl import Dataset, Input, Metrics, Model, Output

from fcbench.components.stages import container_images


def fit(train_features_dir: str, model_name: str, task: str, table_path: str, storage_uri: str = "",
        tracking_uri: str = "", parent_run_id: str = "", offline_dir: str = "", run_name: str = "",
        components: int = 0, shrinkage: float = 0.0) -> dict:
    """Plain-function body: fit (or find fitted), copy to `table_path`, publish, track; returns
    what was fitted (the table summary the codec's identity carries, and where it went)."""
    import hashlib
    import json
    import tempfile
    from pathlib import Path

    from fcbench.codecs.common import atomic
    from fcbench.codecs.common import settings as env_settings
    from fcbench.codecs.klt.fit import fit_table
    from fcbench.codecs.klt.table import load_table
    from fcbench.components.stages.context import stage_context
    from fcbench.components.storage.keys import artifact_key
    from fcbench.components.storage.publish import publish
    from fcbench.components.tracking.server import stage_tracking_uri

    with stage_context("klt_fit", model=model_name, task=task):
        options: dict[str, Any] = {"components": int(components) or None, "shrinkage": float(shrinkage)}
        manifest = hashlib.sha256((Path(train_features_dir) / "manifest.json").read_bytes()).hexdigest()
        key = hashlib.sha256(json.dumps({**options, "features": manifest}, sort_keys=True).encode()).hexdigest()[:24]
        cache = env_settings.CACHE_DIR.get()
        work = Path(cache) / "klt" / key if cache else Path(tempfile.mkdtemp(prefix=".klt-", dir=Path(table_path).parent))
        table, path, fitted = fit_table(train_features_dir, work / "table.npz", **options)
        atomic.write_bytes(Path(table_path), path.read_bytes())
        sha = load_table(table_path)[1]
        info = {"sha256": sha, "fitted_now": fitted, "fit": table.meta["fit"], "source": table.meta["source"],
                "components": table.groups[0].components, "channels": table.groups[0].channels,
                "groups": len(table.groups), "bytes": Path(table_path).stat().st_size}
        uri = stage_tracking_uri(tracking_uri)
        if uri:
            from fcbench.components.tracking.stage import stage_tracking

            tracking = stage_tracking(uri, offline_dir, run_name, parent_run_id)
            params = {"sha256": sha, "bytes": info["bytes"], "components": info["components"],
                      "channels": info["channels"], "groups": info["groups"],
                      **{f"fit.{k}": v for k, v in table.meta["fit"].items()},
                      "training_samples": table.meta["source"]["samples"], "training_tokens": table.meta["source"]["tokens"]}
            info["model_uri"] = tracking.tracker.log_fitted_table(model_name, task, table_path, params,
                                                                 parent_run_id=parent_run_id or None)
        if storage_uri:
            info["storage_uri"] = publish(storage_uri, table_path, artifact_key(model_name, task, "klt"), "table.npz")
        return info


@container_images.component("codec")
def klt_fit(train_features: Input[Dataset], model_name: str, task: str, table: Output[Model], metrics: Output[Metrics],
            storage_uri: str = "", tracking_uri: str = "", parent_run_id: str = "", offline_dir: str = "",
            run_name: str = "", components: int = 0, shrinkage: float = 0.0):
    """Fit the klt table on the training features (registered in MLflow with tracking on)."""
    from fcbench.components.stages.klt_fit import fit
    from fcbench.components.stages.params import log_metrics

    info = fit(train_features.path, model_name, task, table.path, storage_uri, tracking_uri, parent_run_id,
               offline_dir, run_name, components, shrinkage)
    table.metadata.update({k: v for k, v in info.items() if k not in ("fit", "source")})
    log_metrics(metrics, {"klt_components": info["components"], "klt_table_bytes": info["bytes"]})
