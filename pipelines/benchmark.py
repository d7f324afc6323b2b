"""The `benchmark` pipeline: one (model, task) -> features -> every codec x rate point ->
evaluate -> RD report.

    open_tracking (MLflow parent run, tagged with the KFP run)
    resolve_codecs (codec identities, resolved in the codec image; never cached)
    features (extract, or dsl.importer of an existing feature set)
      -> prepare_coding ("truncate-quantize": conditions + codec x QP grid + the quantization-only point)
      -> ParallelFor grid: code_traditional
      -> ParallelFor hyperprior checkpoints (path, s3:// or models:/ URI): hyperprior_infer
      -> evaluate (fan-in with dsl.Collected: the uncompressed, quantization-only and every coded
         point, the machine loaded once) -> report -> pipeline outputs: HTML report, Markdown table, BD-rates

Nothing is computed when this module is imported or the pipeline compiled beyond the graph:
the IR is the same on every machine (the codec identities are resolved in the running image).
Pipelines are built by factories under a deployment (pipelines/deployment.py: resources,
retries, volumes); the module-level objects use the default one. With a non-empty `storage_uri` every stage also publishes its outputs there
(components/storage/publish.py, key layout components/storage/keys.py); '' = local only.

The helpers here (MachineArgs, with_features, traditional_branch, learned_coding, Coded,
report_step) are shared with the `full` and `train_hyperprior` pipelines.
"""

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional

from kfp import dsl
from kfp.dsl import HTML, Dataset, Markdown, Metrics

from fcbench.components.stages.code_traditional import code_traditional
from fcbench.components.stages.evaluate import evaluate
from fcbench.components.stages.extract import extract
from fcbench.components.stages.hyperprior_infer import hyperprior_infer
from fcbench.components.stages.open_tracking import open_tracking
from fcbench.components.stages.prepare_coding import prepare_coding
from fcbench.components.stages.report import report
from fcbench.components.stages.resolve_codecs import resolve_codecs
from fcbench.pipelines import deployment
from fcbench.pipelines.deployment import Deployment
from fcbench.pipelines.parameters import DEFAULTS, describe
from fcbench.pipelines.steps import deploy, parallelism


class ReportOutputs(NamedTuple):
    """The outputs of a pipeline that ends in a report."""

    report: HTML
    table: Markdown
    bd_rates: Metrics


@dataclass
class MachineArgs:
    """The pipeline parameters that pick the machine and its data, passed to every machine task,
    and the run-wide ones every coding task needs: where outputs are published, the preset."""

    model: Any
    task: Any
    weights_uri: Any
    data_uri: Any
    sample_list_uri: Any
    machine_options: Any
    storage_uri: Any = ""  # where this machine's features and codec outputs are published ('' = nowhere)
    preset: Any = ""  # fcbench.codecs.presets name ('' = the default, fcbench)

    def extract(self) -> dsl.PipelineTask:
        return deploy(extract(model=self.model, task=self.task, weights_uri=self.weights_uri, data_uri=self.data_uri,
                              sample_list_uri=self.sample_list_uri, machine_options=self.machine_options,
                              storage_uri=self.storage_uri), "extract")

    def evaluate(self, reference: Any, trad: "Traditional", learned: Optional["Coded"] = None) -> dsl.PipelineTask:
        """One evaluate task for every point: the uncompressed `reference`, the quantization-only
        point and the reconstructions of both codec loops (`learned`: None without that branch)."""
        optional = {} if learned is None else {"learned_recons": learned.recons, "learned_rates": learned.rates}
        return deploy(evaluate(reference=reference, quantized=trad.quantized, quantized_rate=trad.quantized_rate,
                               recons=trad.coded.recons, rates=trad.coded.rates, model=self.model, task=self.task,
                               weights_uri=self.weights_uri, data_uri=self.data_uri,
                               sample_list_uri=self.sample_list_uri, machine_options=self.machine_options, **optional),
                      "evaluate")


@dataclass
class Tracking:
    """Tracking parameters and the parent run opened by `open_tracking`."""

    tracking_uri: Any
    offline_dir: Any
    parent_run_id: Any = ""


def open_run_tracking(pipeline: str, model: Any, task: Any, tracking_uri: Any, offline_dir: Any) -> Tracking:
    """The `open_tracking` task: the pipeline's MLflow parent run, tagged with this KFP run."""
    task_ = deploy(open_tracking(model=model, task=task, pipeline=pipeline, tracking_uri=tracking_uri,
                                 offline_dir=offline_dir, kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                                 kfp_run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER, params={"pipeline": pipeline}),
                   "open_tracking")
    task_.set_caching_options(False)
    return Tracking(tracking_uri, offline_dir, task_.outputs["Output"])


def resolved_codecs(codecs: Any) -> Any:
    """The `resolve_codecs` task's output: the codecs with their in-image identity hashes. Never
    cached: a rebuilt image under the same tag is resolved again (docs/pipelines.md, caching)."""
    task_ = deploy(resolve_codecs(codecs=codecs), "resolve_codecs").set_display_name("resolve-codec-identities")
    task_.set_caching_options(False)
    return task_.outputs["Output"]


def with_features(machine: MachineArgs, features_uri: Any, body: Callable[[Any], Any]) -> list:
    """Run `body(features)` on extracted features, or on an imported feature set when
    `features_uri` is set; returns what each branch's body returned. (The kfp local runner
    cannot resolve dsl.OneOf, so each branch builds the body on its own features.)"""
    with dsl.If(features_uri == "", name="extract-features"):
        extracted = body(machine.extract().outputs["features"])
    with dsl.Else(name="import-features"):
        imported = dsl.importer(artifact_uri=features_uri, artifact_class=Dataset, reimport=False)
        from_import = body(imported.output)
    return [extracted, from_import]


@dataclass
class Coded:
    """The fan-in of a codec loop: every reconstruction and every rate results file
    (dsl.Collected), paired by content in `evaluate`."""

    recons: Any
    rates: Any

    @classmethod
    def collect(cls, task: dsl.PipelineTask) -> "Coded":
        """`task` is the coding task inside a ParallelFor (code_traditional, hyperprior_infer)."""
        return cls(dsl.Collected(task.outputs["recon"]), dsl.Collected(task.outputs["results"]))


@dataclass
class Traditional:
    quantized: Any  # the truncate-quantize-only reconstruction and its rate results
    quantized_rate: Any
    coded: Coded  # the codec x QP loop


def traditional_branch(machine: MachineArgs, features: Any, codecs: Any, qps: Any, quantization: Any) -> Traditional:
    """prepare_coding -> ParallelFor (codec x QP): code_traditional; the quantization-only point
    comes from prepare_coding. `codecs` is resolve_codecs' output."""
    tq = deploy(prepare_coding(features=features, model=machine.model, task=machine.task, family="traditional",
                               quantization=quantization, overrides="{}", codecs=codecs, rate_points=qps,
                               storage_uri=machine.storage_uri, preset=machine.preset), "prepare_coding"
                ).set_display_name("truncate-quantize")
    with dsl.ParallelFor(tq.outputs["Output"], name="codec-x-qp", parallelism=parallelism()) as item:
        enc = deploy(code_traditional(features=features, codec=item.codec, codec_options=item.options,
                                      codec_identity_hash=item.identity_hash, rate_point=item.rate_point,
                                      conditions=item.conditions, model=machine.model, task=machine.task,
                                      storage_uri=machine.storage_uri, label=item.label, preset=machine.preset),
                     "code_traditional")
    return Traditional(tq.outputs["quantized"], tq.outputs["results"], Coded.collect(enc))


def learned_grid(machine: MachineArgs, features: Any, entries: Any, lambdas: Any, quantization: Any) -> dsl.PipelineTask:
    """prepare_coding for the learned family: one grid item (with the learned-path
    conditions) per codec entry of `entries` (a trained hyperprior each: {"codec": "hyperprior",
    "rate_point": LAMBDA, "uri": ...}, the pipeline's `hyperprior` parameter), or per lambda ([] =
    the test conditions' lambdas)."""
    return deploy(prepare_coding(features=features, model=machine.model, task=machine.task, family="learned",
                                 quantization=quantization, overrides="{}", codecs=entries,
                                 rate_points=lambdas, storage_uri=machine.storage_uri, preset=machine.preset),
                  "prepare_coding").set_display_name("truncate-quantize-learned")


def learned_coding(machine: MachineArgs, features: Any, item: Any, tracking_uri: Any, checkpoint: Any = None,
                   checkpoint_uri: Any = "") -> dsl.PipelineTask:
    """hyperprior_infer with the model of one grid item: a trained Model artifact (`checkpoint`)
    or a URI (`checkpoint_uri`: path, s3:// or models:/ via `tracking_uri`)."""
    source = {"checkpoint": checkpoint} if checkpoint is not None else {"checkpoint_uri": checkpoint_uri}
    return deploy(hyperprior_infer(features=features, rate_point=item.rate_point, conditions=item.conditions,
                                   codec_identity_hash=item.identity_hash, model=machine.model, task=machine.task,
                                   storage_uri=machine.storage_uri, tracking_uri=tracking_uri, label=item.label,
                                   preset=machine.preset, **source), "hyperprior_infer")


def report_step(evaluated: dsl.PipelineTask, anchor: Any, title: Any, tracking: Tracking,
                storage_uri: Any = "", preset: Any = "") -> dsl.PipelineTask:
    """The report of the `evaluate` task's points. Published (when `storage_uri` is set) to
    reports/<KFP run name>/; closes the MLflow parent run. The report names `preset`; anchor ''
    is the preset's."""
    return deploy(report(points=evaluated.outputs["points"], anchor=anchor, title=title,
                         tracking_uri=tracking.tracking_uri, offline_dir=tracking.offline_dir,
                         parent_run_id=tracking.parent_run_id, storage_uri=storage_uri,
                         run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER, kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                         preset=preset), "report")


def report_outputs(reports: list) -> ReportOutputs:
    """The pipeline's outputs from the report task of each features branch (dsl.OneOf: exactly
    one branch runs)."""
    if len(reports) == 1:
        return ReportOutputs(reports[0].outputs["html"], reports[0].outputs["table"], reports[0].outputs["bd_rates"])
    return ReportOutputs(*(dsl.OneOf(*(r.outputs[name] for r in reports)) for name in ("html", "table", "bd_rates")))


def declare_outputs(func: Callable, dep: Deployment) -> Callable:
    """Cluster builds return the report as the pipeline's outputs. Local builds do not: the kfp
    local runner cannot select a dsl.OneOf, and local runs read the report from its folder."""
    func.__annotations__["return"] = None if dep.local else ReportOutputs
    return func


def make_pipeline(name: str, summary: str, func: Callable, dep: Deployment, rebuild: Callable,
                  outputs: bool) -> Callable:
    """Decorate a pipeline function under `dep`: parameter descriptions, the report outputs (when
    `outputs`), and how to rebuild it under another deployment (`rebuild(dep)`)."""
    func = describe(summary)(func)
    if outputs:
        declare_outputs(func, dep)
    with deployment.building_with(dep):
        built = dsl.pipeline(name=name, description=summary)(func)
    return deployment.built(built, rebuild, dep)


def build_benchmark(learned: bool, dep: Optional[Deployment] = None) -> Callable:
    """The benchmark pipeline, with (`learned`) or without the hyperprior branch, built under
    `dep` (default: deployment.DEFAULT).

    Two variants because a loop over an empty list cannot be collected by the kfp local runner
    (its Collected output is then missing), so "no hyperprior" is decided when compiling.
    """
    name = "fcbench-benchmark" if learned else "fcbench-benchmark-traditional"
    dep = dep or deployment.DEFAULT

    def benchmark(
        model: str = DEFAULTS["model"],
        task: str = DEFAULTS["task"],
        weights_uri: str = DEFAULTS["weights_uri"],
        data_uri: str = DEFAULTS["data_uri"],
        sample_list_uri: str = DEFAULTS["sample_list_uri"],
        machine_options: dict = DEFAULTS["machine_options"],
        features_uri: str = DEFAULTS["features_uri"],
        codecs: list = DEFAULTS["codecs"],
        qps: list = DEFAULTS["qps"],
        hyperprior: list = DEFAULTS["hyperprior"],
        quantization: str = DEFAULTS["quantization"],
        preset: str = DEFAULTS["preset"],
        anchor: str = DEFAULTS["anchor"],
        title: str = DEFAULTS["title"],
        tracking_uri: str = DEFAULTS["tracking_uri"],
        offline_dir: str = DEFAULTS["offline_dir"],
        storage_uri: str = DEFAULTS["storage_uri"],
    ):
        machine = MachineArgs(model, task, weights_uri, data_uri, sample_list_uri, machine_options, storage_uri, preset)
        tracking = open_run_tracking(name, model, task, tracking_uri, offline_dir)
        resolved = resolved_codecs(codecs)

        def body(features: Any) -> dsl.PipelineTask:
            trad = traditional_branch(machine, features, resolved, qps, quantization)
            coded = None
            if learned:
                grid = learned_grid(machine, features, hyperprior, [], quantization)
                with dsl.ParallelFor(grid.outputs["Output"], name="hyperprior-models", parallelism=parallelism()) as item:
                    inf = learned_coding(machine, features, item, tracking_uri, checkpoint_uri=item.uri)
                coded = Coded.collect(inf)
            return report_step(machine.evaluate(features, trad, coded), anchor, title, tracking, storage_uri, preset)

        reports = with_features(machine, features_uri, body)
        if not dep.local:
            return report_outputs(reports)

    summary = ("Feature coding benchmark of one (model, task): features -> codecs x rate points -> task evaluation "
               "-> RD report with BD-rate" + (", with trained hyperpriors." if learned else " (traditional codecs)."))
    return make_pipeline(name, summary, benchmark, dep, lambda d: build_benchmark(learned, d), outputs=True)


benchmark = build_benchmark(learned=True)
benchmark_traditional = build_benchmark(learned=False)
