"""The coding chain reaches MLflow: an RD point's chain params are logged as run params and come
back with the point, so a report rebuilt from MLflow still lists the chain."""
from mlflow import MlflowClient

from fcbench.components.rd_join import chain_params
from fcbench.components.reporting import RDPoint, render_markdown
from fcbench.components.tracking import Tracker, experiment_name


def test_chain_params_are_mlflow_params(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tr = Tracker(local_dir=tmp_path / "store")
    params = chain_params({"low": -5, "high": 5, "bit_depth": 10, "layout": "llama3", "outliers": True})
    point = RDPoint(model="llama3", task="csr", label="x265+side", rate_point=32, bpfp=0.5, ebpfp=1.0,
                    metric="accuracy", metric_value=40.0, direction="higher", feature_mse=0.01, side_bpfp=0.03,
                    params=params)
    with tr.start_pipeline_run("llama3", "csr") as run:
        child = tr.log_point(point)
    logged = MlflowClient(tr.tracking_uri).get_run(child).data.params
    assert logged["chain.outliers"] == "true" and logged["chain.outlier_bits"] == "10"
    assert logged["chain.outlier_fill"] == "median" and logged["chain.ranges"] == "[-5, 5]"
    (back,) = tr.points(experiment_name("llama3", "csr"), run.run_id)
    assert back.label == "x265+side"
    assert "| x265+side | [-5, 5] | on: 10-bit values, median fill |" in render_markdown([back], [], [], "t", {})
