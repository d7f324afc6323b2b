"""The `benchmark` pipeline: one (model, task) -> features -> every codec x rate point ->
evaluate -> RD report.

    features (extract, or dsl.importer of an existing feature set)
      -> prepare_coding ("truncate-quantize": conditions + codec x QP grid + the quantization-only point)
      -> ParallelFor grid: code_traditional
      -> ParallelFor hyperprior checkpoints (path, s3:// or models:/ URI): hyperprior_infer
      -> evaluate (fan-in with dsl.Collected: the uncompressed, quantization-only and every coded
         point, the machine loaded once) -> report

With a non-empty `storage_uri` every stage also publishes its outputs there
(components/storage/publish.py, key layout components/storage/keys.py); '' = local only.

The helpers here (MachineArgs, with_features, traditional_branch, learned_coding, Coded,
report_step) are shared with the `full` and `train_hyperprior` pipelines.
"""

from dataclasses import dataclass
from typing import Any, Callable, Optional

from kfp import dsl
from kfp.dsl import Dataset

from fcbench.components.stages.evaluate import evaluate
from fcbench.components.stages.extract import extract
from fcbench.components.stages.hyperprior_infer import hyperprior_infer
from fcbench.components.stages.report import report
from fcbench.components.stages.prepare_coding import prepare_coding
from fcbench.components.stages.code_traditional import code_traditional
from fcbench.pipelines.parameters import DEFAULTS
from fcbench.pipelines.steps import on_cpu, on_gpu


def codec_spec(name: str, **options: Any) -> dict:
    """One entry of the `codecs` parameter: name, options and the identity hash of the codec as
    built here (the codec task refuses to run if the image's build differs)."""
    from fcbench.codecs import get_codec
    from fcbench.components.codec_identity import identity_hash

    return {"codec": name, "options": options, "identity_hash": identity_hash(get_codec(name, **options).identity)}


def default_codecs() -> list[dict]:
    """x265: the codec every machine has (VTM needs the user's build; add it with --codec vtm)."""
    return [codec_spec("x265")]


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
        return on_gpu(extract(model=self.model, task=self.task, weights_uri=self.weights_uri, data_uri=self.data_uri,
                              sample_list_uri=self.sample_list_uri, machine_options=self.machine_options,
                              storage_uri=self.storage_uri))

    def evaluate(self, reference: Any, trad: "Traditional", learned: Optional["Coded"] = None) -> dsl.PipelineTask:
        """One evaluate task for every point: the uncompressed `reference`, the quantization-only
        point and the reconstructions of both codec loops (`learned`: None without that branch)."""
        optional = {} if learned is None else {"learned_recons": learned.recons, "learned_rates": learned.rates}
        return on_gpu(evaluate(reference=reference, quantized=trad.quantized, quantized_rate=trad.quantized_rate,
                               recons=trad.coded.recons, rates=trad.coded.rates, model=self.model, task=self.task,
                               weights_uri=self.weights_uri, data_uri=self.data_uri,
                               sample_list_uri=self.sample_list_uri, machine_options=self.machine_options, **optional))


def with_features(machine: MachineArgs, features_uri: Any, body: Callable[[Any], None]) -> None:
    """Run `body(features)` on extracted features, or on an imported feature set when
    `features_uri` is set. (The kfp local runner cannot resolve dsl.OneOf, so each branch
    builds the body on its own features.)"""
    with dsl.If(features_uri == "", name="extract-features"):
        body(machine.extract().outputs["features"])
    with dsl.Else(name="import-features"):
        imported = dsl.importer(artifact_uri=features_uri, artifact_class=Dataset, reimport=False)
        body(imported.output)


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


def traditional_branch(machine: MachineArgs, features: Any, codecs: Any, qps: Any, legacy: Any) -> Traditional:
    """prepare_coding -> ParallelFor (codec x QP): code_traditional; the quantization-only point
    comes from prepare_coding."""
    tq = on_cpu(prepare_coding(features=features, model=machine.model, task=machine.task, family="traditional",
                               legacy=legacy, overrides="{}", codecs=codecs, rate_points=qps,
                               storage_uri=machine.storage_uri, preset=machine.preset)).set_display_name("truncate-quantize")
    with dsl.ParallelFor(tq.outputs["Output"], name="codec-x-qp") as item:
        enc = on_cpu(code_traditional(features=features, codec=item.codec, codec_options=item.options,
                                      codec_identity_hash=item.identity_hash, rate_point=item.rate_point,
                                      conditions=item.conditions, model=machine.model, task=machine.task,
                                      storage_uri=machine.storage_uri, label=item.label, preset=machine.preset))
    return Traditional(tq.outputs["quantized"], tq.outputs["results"], Coded.collect(enc))


def learned_grid(machine: MachineArgs, features: Any, models: Any, lambdas: Any, legacy: Any) -> dsl.PipelineTask:
    """prepare_coding for the learned family: one grid item (with the learned-path
    conditions) per entry of `models`, or per lambda ([] = the test conditions' lambdas)."""
    return on_cpu(prepare_coding(features=features, model=machine.model, task=machine.task, family="learned",
                                 legacy=legacy, overrides="{}", codecs=models,
                                 rate_points=lambdas, storage_uri=machine.storage_uri, preset=machine.preset)
                  ).set_display_name("truncate-quantize-learned")


def learned_coding(machine: MachineArgs, features: Any, item: Any, tracking_uri: Any, checkpoint: Any = None,
                   checkpoint_uri: Any = "") -> dsl.PipelineTask:
    """hyperprior_infer with the model of one grid item: a trained Model artifact (`checkpoint`)
    or a URI (`checkpoint_uri`: path, s3:// or models:/ via `tracking_uri`)."""
    source = {"checkpoint": checkpoint} if checkpoint is not None else {"checkpoint_uri": checkpoint_uri}
    return on_cpu(hyperprior_infer(features=features, lmbda=item.rate_point, conditions=item.conditions,
                                   codec_identity_hash=item.identity_hash, model=machine.model, task=machine.task,
                                   storage_uri=machine.storage_uri, tracking_uri=tracking_uri, label=item.label,
                                   preset=machine.preset, **source))


def report_step(evaluated: dsl.PipelineTask, anchor: Any, title: Any, tracking_uri: Any,
                storage_uri: Any = "", preset: Any = "") -> dsl.PipelineTask:
    """The report of the `evaluate` task's points. Published (when `storage_uri` is set) to
    reports/<KFP run name>/. The report names `preset`; anchor '' is the preset's."""
    return on_cpu(report(points=evaluated.outputs["points"], anchor=anchor, title=title, tracking_uri=tracking_uri,
                         storage_uri=storage_uri, run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER, preset=preset))


def build_benchmark(learned: bool) -> Callable:
    """The benchmark pipeline, with (`learned`) or without the hyperprior branch.

    Two variants because a loop over an empty list cannot be collected by the kfp local runner
    (its Collected output is then missing), so "no hyperprior" is decided when compiling.
    """
    name = "fcbench-benchmark" if learned else "fcbench-benchmark-traditional"

    @dsl.pipeline(name=name,
                  description="Feature coding benchmark of one (model, task): features -> codecs x rate points -> "
                              "task evaluation -> RD report with BD-rate.")
    def benchmark(
        model: str = DEFAULTS["model"],
        task: str = DEFAULTS["task"],
        weights_uri: str = DEFAULTS["weights_uri"],
        data_uri: str = DEFAULTS["data_uri"],
        sample_list_uri: str = DEFAULTS["sample_list_uri"],
        machine_options: str = DEFAULTS["machine_options"],
        features_uri: str = DEFAULTS["features_uri"],
        codecs: list = default_codecs(),
        qps: list = DEFAULTS["qps"],
        hyperprior: list = DEFAULTS["hyperprior"],
        legacy: bool = DEFAULTS["legacy"],
        preset: str = DEFAULTS["preset"],
        anchor: str = DEFAULTS["anchor"],
        title: str = DEFAULTS["title"],
        tracking_uri: str = DEFAULTS["tracking_uri"],
        storage_uri: str = DEFAULTS["storage_uri"],
    ):
        """codecs: [{codec, options, identity_hash, chain}] (the hash of the codec identity as built where it
        runs: `--codec NAME` computes it; chain: optional, {} = the paper's chain, e.g. {"outliers":
        true} or {"ranges": "s3://.../table.json"}, see docs/codecs.md); qps: [] =
        the test conditions' QPs; hyperprior: [{codec: "hyperprior", rate_point: lambda, uri:
        checkpoint URI (local path, s3:// or models:/<name>/<version> of the tracking_uri
        registry), identity_hash: '' (trust the checkpoint) or the codec identity hash}] (ignored by the
        traditional variant); features_uri: '' = extract with the machine, else import that
        feature set; storage_uri: '' = local only, else s3://bucket/prefix (or a folder) where
        every stage also publishes its outputs (docs/storage.md); preset: fcbench or paper (the
        reference chain: floor quantization; give codecs=[vtm]; docs/test-conditions.md §7),
        named in every result; legacy: the reference's floor under any preset; anchor: '' = the
        preset's (vtm)."""
        machine = MachineArgs(model, task, weights_uri, data_uri, sample_list_uri, machine_options, storage_uri, preset)

        def body(features: Any) -> None:
            trad = traditional_branch(machine, features, codecs, qps, legacy)
            coded = None
            if learned:
                grid = learned_grid(machine, features, hyperprior, [], legacy)
                with dsl.ParallelFor(grid.outputs["Output"], name="hyperprior-models") as item:
                    inf = learned_coding(machine, features, item, tracking_uri, checkpoint_uri=item.uri)
                coded = Coded.collect(inf)
            report_step(machine.evaluate(features, trad, coded), anchor, title, tracking_uri, storage_uri, preset)

        with_features(machine, features_uri, body)

    return benchmark


benchmark = build_benchmark(learned=True)
benchmark_traditional = build_benchmark(learned=False)
