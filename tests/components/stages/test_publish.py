"""Stages publish their outputs to a REAL S3 server (moto on loopback) under the key layout of
components/storage/keys.py when given a storage URI, and hyperprior_infer loads a checkpoint registered
in an MLflow (sqlite) registry by its models:/ URI. Each component's own plain function runs."""
import json

import pytest

from fcbench.components.storage import INDEX, open_storage, verify_featureset
from fcbench.components.storage.keys import artifact_key
from fcbench.components.storage.s3 import S3Storage

MODEL, TASK, QP, LAMBDA = "dinov2", "cls", 37, 0.01


@pytest.fixture(scope="module")
def root(s3_bucket) -> str:
    return f"s3://{s3_bucket}/bench"


@pytest.fixture(scope="module")
def store(root) -> S3Storage:
    return open_storage(root)


@pytest.fixture(scope="module")
def conditions() -> str:
    from fcbench.components.stages.prepare_coding import resolve_conditions

    return json.dumps(resolve_conditions(MODEL, TASK, "traditional", "", {}))


@pytest.fixture(scope="module")
def registered(tiny_checkpoint, tmp_path_factory) -> tuple[str, str]:
    """(models:/ URI, tracking URI) of the tiny checkpoint registered in a local sqlite store."""
    from fcbench.components.tracking import Tracker

    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    tracking = f"sqlite:///{db}"
    uri = Tracker(tracking_uri=tracking).log_training(MODEL, TASK, LAMBDA, [{"epoch": 0, "loss": 1.0}],
                                                      tiny_checkpoint, {"N": 8, "M": 8})
    return uri, tracking


def test_extract_publishes_a_verified_feature_set(tiny_cls, root, store, tmp_path):
    from fcbench.components.stages.extract import extract_features

    info = extract_features(MODEL, TASK, tiny_cls["weights"], tiny_cls["data"], tiny_cls["sample_list"],
                            tiny_cls["options"], str(tmp_path / "features"), storage_uri=root)
    key = artifact_key(MODEL, TASK, "features")
    assert info["storage_uri"] == f"{root}/{key}"
    assert verify_featureset(f"{root}/{key}") == []
    local = sorted(p.name for p in (tmp_path / "features").iterdir() if not p.name.startswith("."))  # not the lock
    assert sorted(k[len(key):] for k in store.ls(key)) == sorted(local + [INDEX])


def test_codec_stage_publishes_recon_bitstreams_and_metrics(tiny_features, root, store, conditions, tmp_path):
    from fcbench.components.codec_identity import resolve_identity
    from fcbench.components.stages.code_traditional import encode_decode

    spec = resolve_identity("x265", {})
    summary = encode_decode(str(tiny_features), "x265", {}, spec["identity_hash"], float(QP), conditions,
                            str(tmp_path / "recon"), str(tmp_path / "bits"), str(tmp_path / "results.json"),
                            MODEL, TASK, root)
    recon = artifact_key(MODEL, TASK, "recon", "x265", QP)
    assert recon == f"{MODEL}/{TASK}/x265/qp{QP}/recon/"
    assert verify_featureset(f"{root}/{recon}") == []
    bits = artifact_key(MODEL, TASK, "bitstreams", "x265", QP)
    assert store.verify_dir(bits) == []
    assert len([k for k in store.ls(bits) if k.endswith(".bin")]) == summary["samples"]
    results = json.loads(store.get_bytes(artifact_key(MODEL, TASK, "metrics", "x265", QP) + "results.json"))
    assert results == json.loads((tmp_path / "results.json").read_text())
    assert results["summary"][0]["bpfp"] == pytest.approx(summary["bpfp"])


def test_bypass_point_is_published_per_family(tiny_features, root, store, tmp_path):
    from fcbench.components.stages.prepare_coding import prepare

    prepare(str(tiny_features), MODEL, TASK, "traditional", "", "{}", [], [QP], str(tmp_path / "q"),
            str(tmp_path / "r.json"), storage_uri=root)
    assert verify_featureset(f"{root}/{artifact_key(MODEL, TASK, 'recon', 'bypass-traditional', 0)}") == []
    assert store.exists(artifact_key(MODEL, TASK, "metrics", "bypass-traditional", 0) + "results.json")


def test_infer_loads_a_registered_model_by_uri_and_publishes(registered, tiny_features, tiny_checkpoint, root,
                                                              store, tmp_path):
    from fcbench.components.codec_identity import resolve_identity
    from fcbench.components.stages.hyperprior_infer import infer
    from fcbench.components.stages.prepare_coding import resolve_conditions

    model_uri, tracking = registered
    assert model_uri.startswith("models:/")
    conds = json.dumps(resolve_conditions(MODEL, TASK, "learned", "", {}))
    # The identity of the local checkpoint: infer must have coded with exactly those bytes.
    identity = resolve_identity("hyperprior", {"checkpoint": str(tiny_checkpoint), "device": "cpu"})["identity_hash"]
    summary = infer(str(tiny_features), model_uri, LAMBDA, conds, "cpu", str(tmp_path / "recon"),
                    str(tmp_path / "bits"), str(tmp_path / "results.json"), identity, MODEL, TASK, root, tracking)
    assert summary["bpfp"] > 0
    recon = artifact_key(MODEL, TASK, "recon", "hyperprior", LAMBDA)
    assert recon == f"{MODEL}/{TASK}/hyperprior/lambda0.01/recon/"
    assert verify_featureset(f"{root}/{recon}") == []
    assert store.verify_dir(artifact_key(MODEL, TASK, "bitstreams", "hyperprior", LAMBDA)) == []


@pytest.mark.slow  # trains and registers a model
def test_registered_model_without_tracking_is_a_clear_error(registered, tiny_features, monkeypatch, tmp_path):
    from fcbench.components.stages.context import StageError
    from fcbench.components.stages.hyperprior_infer import infer

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(StageError, match="no tracking server is configured"):
        infer(str(tiny_features), registered[0], LAMBDA, "{}", "cpu", str(tmp_path / "r"), str(tmp_path / "b"),
              str(tmp_path / "x.json"))


@pytest.mark.slow  # trains and registers a model
def test_unknown_registered_version_names_the_uri(registered, tmp_path):
    from fcbench.components.inputs import local_path

    name = registered[0][len("models:/"):].rpartition("/")[0]
    with pytest.raises(Exception, match=name):
        local_path(f"models:/{name}/99", tmp_path, tracking=registered[1])


def test_training_publishes_the_model_and_its_curves(tiny_features, root, store, tmp_path):
    from fcbench.components.stages.hyperprior_train import train_model

    info = train_model(str(tiny_features), MODEL, TASK, LAMBDA, str(tmp_path / "model.pt"), str(tmp_path / "curves"),
                       "cpu", "off", root, crop=[64, 64], steps=2, batch_size=4, N=8, M=8)
    key = artifact_key(MODEL, TASK, "hyperprior", rate_point=LAMBDA)
    assert info["storage_uri"] == f"{root}/{key}model.pt"
    assert store.get_bytes(key + "model.pt") == (tmp_path / "model.pt").read_bytes()
    assert store.verify_dir(key + "curves/") == []
    assert store.get_bytes(key + "curves/curves.json") == (tmp_path / "curves" / "curves.json").read_bytes()


def test_report_is_published_under_the_run(root, store, tmp_path):
    from fcbench.components.reporting import RDPoint
    from fcbench.components.stages.report import make_report

    files = []
    for i, (codec, rate, acc) in enumerate([("x265", 2.0, 0.7), ("x265", 4.0, 0.8), ("uncompressed", 32.0, 0.9)]):
        p = RDPoint(model=MODEL, task=TASK, label=codec, rate_point=float(i), bpfp=rate, ebpfp=rate,
                    metric="top1", metric_value=acc, direction="higher", feature_mse=0.0)
        files.append(tmp_path / f"p{i}.json")
        files[-1].write_text(json.dumps(p.as_dict()))
    out = make_report([str(f) for f in files], str(tmp_path / "report"), "x265", "", "off", {},
                      storage_uri=root, run_name="fcbench-benchmark 2026/11/25")
    key = artifact_key("", "", "reports", run="fcbench-benchmark-2026-11-25")
    assert out["storage_uri"] == f"{root}/{key}"
    assert store.verify_dir(key) == []
    assert store.get_bytes(key + "report.md") == (tmp_path / "report" / "report.md").read_bytes()


def test_no_storage_uri_publishes_nothing(store, tmp_path):
    from fcbench.components.storage.publish import publish, publish_coding

    (tmp_path / "f").write_text("x")
    before = store.ls()
    assert publish("", tmp_path, "anything/") == ""
    assert publish_coding("", "", "", "x265", QP, tmp_path, tmp_path / "f") == {}
    assert store.ls() == before


def test_publishing_a_codec_point_needs_model_and_task(root, tmp_path):
    from fcbench.components.storage.publish import publish_coding

    with pytest.raises(ValueError, match="needs the model and task"):
        publish_coding(root, "", TASK, "x265", QP, tmp_path, tmp_path / "r.json")
