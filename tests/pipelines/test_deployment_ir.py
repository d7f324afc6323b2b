"""What a Kubeflow cluster gets from the compiled IR: every task sized (CPU and memory requests and
limits), retried with backoff, time-limited, with a sized scratch volume, the cache volume and the
image pull secrets; fan-outs with bounded parallelism; described parameters; the report as HTML,
Markdown and Metrics outputs of the pipeline; and compile-time overrides that change exactly that."""
import pytest
import yaml
from kfp import compiler

from fcbench.pipelines import deployment
from fcbench.pipelines.cli import main
from fcbench.pipelines.commands.kfp import PIPELINES, load_pipeline
from fcbench.pipelines.deployment import DEFAULT, STAGES, with_overrides


def compile_to(tmp_path, name, dep=None):
    path = tmp_path / f"{name}.yaml"
    compiler.Compiler().compile(load_pipeline(name, dep), str(path))
    docs = list(yaml.safe_load_all(path.read_text()))
    return docs[0], docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ir")
    return {name: compile_to(tmp, name) for name in PIPELINES}


def tasks(spec):
    out = dict(spec["root"]["dag"]["tasks"])
    for comp in spec["components"].values():
        out.update(comp.get("dag", {}).get("tasks", {}))
    return out


def stage_of(component: str) -> str:
    """comp-code-traditional-2 -> code_traditional"""
    name = component[len("comp-"):]
    head, _, tail = name.rpartition("-")
    return (head if tail.isdigit() else name).replace("-", "_")


@pytest.mark.parametrize("name", list(PIPELINES))
def test_every_executor_is_sized_and_every_task_retried(compiled, name):
    spec, k8s = compiled[name]
    for executor, body in spec["deploymentSpec"]["executors"].items():
        if "importer" in body:
            continue
        stage = stage_of("comp-" + executor[len("exec-"):])
        want = DEFAULT.stage(stage)
        res = body["container"]["resources"]
        assert (res["resourceCpuRequest"], res["resourceCpuLimit"]) == (want.cpu_request, want.cpu_limit), executor
        assert (res["resourceMemoryRequest"], res["resourceMemoryLimit"]) == (want.memory_request, want.memory_limit)
        cfg = k8s[executor]
        assert int(cfg["activeDeadlineSeconds"]) == want.timeout_s
        assert cfg["emptyDirMounts"] == [{"mountPath": deployment.SCRATCH_PATH, "sizeLimit": want.scratch,
                                          "volumeName": "scratch"}]
        assert [p["constant"] for p in cfg["pvcMount"]] == [DEFAULT.cache_pvc]
        assert [s["secretName"] for s in cfg["imagePullSecret"]] == list(DEFAULT.pull_secrets)
        env = {e["name"]: e["value"] for e in body["container"].get("env", [])}
        assert env["FCBENCH_STAGE_DIR"].startswith(deployment.SCRATCH_PATH)
        assert env["FCBENCH_SWEEP_JOBS"] == env["OMP_NUM_THREADS"] == str(want.sweep_jobs())
        assert env["FCBENCH_CACHE_DIR"].startswith(deployment.CACHE_PATH)
        assert env["FCBENCH_OFFLINE_DIR"].startswith(deployment.CACHE_PATH)
    for task_name, task in tasks(spec).items():
        if "componentRef" not in task or task_name.startswith(("for-loop", "condition", "importer")):
            continue
        if spec["components"][task["componentRef"]["name"]].get("dag"):
            continue
        stage = stage_of(task["componentRef"]["name"])
        policy = task["retryPolicy"]
        assert policy["maxRetryCount"] == DEFAULT.stage(stage).retries, task_name
        assert policy["backoffDuration"] == DEFAULT.retry_backoff and policy["backoffFactor"] == 2.0


@pytest.mark.parametrize("name", list(PIPELINES))
def test_fan_outs_are_bounded(compiled, name):
    spec, _ = compiled[name]
    loops = [t for t in tasks(spec).values() if "parameterIterator" in t]
    assert all(t["iteratorPolicy"]["parallelismLimit"] == DEFAULT.parallelism for t in loops)
    assert loops or name == "fit_klt"  # one fit per run: the only pipeline without a fan-out


@pytest.mark.parametrize("name", list(PIPELINES))
def test_every_parameter_is_described(compiled, name):
    spec, _ = compiled[name]
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params and all(p.get("description", "").strip() for p in params.values()), \
        [n for n, p in params.items() if not p.get("description")]
    typed = {n: p["parameterType"] for n, p in params.items()}
    assert typed.get("machine_options") in (None, "STRUCT")  # a typed object, not a JSON string


@pytest.mark.parametrize("name", ["benchmark", "benchmark-traditional", "full"])
def test_report_outputs_html_markdown_and_bd_rate_metrics(compiled, name):
    spec, _ = compiled[name]
    outputs = spec["components"]["comp-report"]["outputDefinitions"]["artifacts"]
    assert outputs["html"]["artifactType"]["schemaTitle"] == "system.HTML"
    assert outputs["table"]["artifactType"]["schemaTitle"] == "system.Markdown"
    assert outputs["bd_rates"]["artifactType"]["schemaTitle"] == "system.Metrics"
    pipeline_outputs = spec["root"]["outputDefinitions"]["artifacts"]
    assert {k: v["artifactType"]["schemaTitle"] for k, v in pipeline_outputs.items()} == {
        "report": "system.HTML", "table": "system.Markdown", "bd_rates": "system.Metrics"}


@pytest.mark.parametrize("name", ["benchmark", "train_hyperprior", "full"])
def test_mlflow_parent_run_opens_first_and_reaches_training_and_report(compiled, name):
    spec, _ = compiled[name]
    all_tasks = tasks(spec)
    opener = all_tasks["open-tracking"]
    params = opener["inputs"]["parameters"]
    assert params["kfp_run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert params["kfp_run_name"]["runtimeValue"]["constant"] == "{{$.pipeline_job_name}}"
    consumers = [n for n, t in all_tasks.items() if n.startswith(("report", "hyperprior-train"))]
    assert consumers
    for n in consumers:
        parent = all_tasks[n]["inputs"]["parameters"]["parent_run_id"]
        assert "open-tracking" in str(parent), (n, parent)


def test_compile_overrides_change_the_ir(tmp_path, capsys):
    out = tmp_path / "b.yaml"
    argv = ["compile", "benchmark", "-o", str(out), "--deploy", "code_traditional.cpu_limit=16",
            "--deploy", "*.retries=0", "--deploy", "parallelism=3", "--deploy", "pull_secrets=", "--deploy", "cache_pvc="]
    assert main(argv) == 0, capsys.readouterr().err
    spec, k8s = (lambda d: (d[0], d[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]))(
        list(yaml.safe_load_all(out.read_text())))
    code = spec["deploymentSpec"]["executors"]["exec-code-traditional"]
    assert code["container"]["resources"]["resourceCpuLimit"] == "16"
    assert {e["name"]: e["value"] for e in code["container"]["env"]}["FCBENCH_SWEEP_JOBS"] == "16"
    assert all("retryPolicy" not in t for t in tasks(spec).values())
    assert all(t["iteratorPolicy"]["parallelismLimit"] == 3 for t in tasks(spec).values() if "parameterIterator" in t)
    assert all("imagePullSecret" not in cfg and "pvcMount" not in cfg for cfg in k8s.values())


@pytest.mark.parametrize("override, message", [
    ("extract.memory_limit=lots", "not a Kubernetes quantity"),
    ("extract.colour=red", "unknown field 'colour'"),
    ("decode.cpu_limit=2", "unknown stage 'decode'"),
    ("parallelism=0", "at least 1"),
    ("retry_backoff=soon", "not a duration"),
    ("speed=11", "unknown setting"),
    ("extract.retries=two", "whole number"),
])
def test_bad_overrides_are_one_line_errors(tmp_path, capsys, override, message):
    assert main(["compile", "full", "-o", str(tmp_path / "x.yaml"), "--deploy", override]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_deploy_file(tmp_path):
    f = tmp_path / "deploy.yaml"
    f.write_text("parallelism: 2\nstages:\n  evaluate: {memory_limit: 96Gi, retries: 1}\n")
    from fcbench.pipelines.deployment import load_overrides

    dep = with_overrides(DEFAULT, load_overrides(f))
    assert dep.parallelism == 2 and dep.stage("evaluate").memory_limit == "96Gi" and dep.stage("evaluate").retries == 1
    assert set(dep.stages) == set(STAGES)


def test_local_builds_have_no_retries_or_task_variables(tmp_path):
    spec, _ = compile_to(tmp_path, "benchmark-traditional", DEFAULT.for_local())
    assert all("retryPolicy" not in t for t in tasks(spec).values())
    assert all("env" not in e["container"] for e in spec["deploymentSpec"]["executors"].values() if "container" in e)
