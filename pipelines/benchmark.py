"""The `benchmark` pipeline: one (model, task) -> features -> every codec x rate point ->
evaluate -> RD report.

    features (extract, or dsl.importer of an existing feature set)
      -> prepare_coding ("truncate-quantize": conditions + codec x QP grid + the quantization-only point)
      -> ParallelFor grid: code_traditional -> evaluate
      -> ParallelFor hyperprior checkpoints (path, s3:// or models:/ URI): hyperprior_infer -> evaluate
      -> report (fan-in: dsl.Collected)

With a non-empty `storage_uri` every stage also publishes its outputs there
(components/storage/publish.py, key layout components/storage/keys.py); '' = local only.

The helpers here (MachineArgs, with_features, traditional_branch, learned_evaluation,
report_step) are shared with the `full` and `train_hyperprior` pipelines.
"""

from dataclasses import dataclass
from typing import Any, Callable

from kfp import dsl
from kfp.dsl import Dataset

from fcbench.components.stages.evaluate import UNCOMPRESSED, evaluate
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

    def evaluate(self, recon: Any, reference: Any, codec: Any, rate_point: Any, rate: Any) -> dsl.PipelineTask:
        return on_gpu(evaluate(recon=recon, reference=reference, model=self.model, task=self.task,
                               weights_uri=self.weights_uri, data_uri=self.data_uri,
                               sample_list_uri=self.sample_list_uri, machine_options=self.machine_options,
                               codec=codec, rate_point=rate_point, rate=rate))


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
class Traditional:
    quantized_point: Any  # evaluate task of the truncate-quantize-only reconstruction
    uncompressed_point: Any
    points: Any  # the per-(codec, QP) evaluate task inside the loop


def traditional_branch(machine: MachineArgs, features: Any, codecs: Any, qps: Any, legacy: Any) -> Traditional:
    """prepare_coding -> ParallelFor (codec x QP): code_traditional -> evaluate; plus the
    uncompressed and quantization-only reference points."""
    tq = on_cpu(prepare_coding(features=features, model=machine.model, task=machine.task, family="traditional",
                               legacy=legacy, overrides="{}", codecs=codecs, rate_points=qps,
                               storage_uri=machine.storage_uri, preset=machine.preset)).set_display_name("truncate-quantize")
    uncompressed = machine.evaluate(features, features, UNCOMPRESSED, 0.0, features)
    uncompressed.set_display_name("evaluate-uncompressed")
    quantized = machine.evaluate(tq.outputs["quantized"], features, "bypass", 0.0, tq.outputs["results"])
    quantized.set_display_name("evaluate-quantized")
    with dsl.ParallelFor(tq.outputs["Output"], name="codec-x-qp") as item:
        enc = on_cpu(code_traditional(features=features, codec=item.codec, codec_options=item.options,
                                      codec_identity_hash=item.identity_hash, rate_point=item.rate_point,
                                      conditions=item.conditions, model=machine.model, task=machine.task,
                                      storage_uri=machine.storage_uri, label=item.label, preset=machine.preset))
        ev = machine.evaluate(enc.outputs["recon"], features, item.label, item.rate_point, enc.outputs["results"])
    return Traditional(quantized, uncompressed, ev)


def learned_grid(machine: MachineArgs, features: Any, models: Any, lambdas: Any, legacy: Any) -> dsl.PipelineTask:
    """prepare_coding for the learned family: one grid item (with the learned-path
    conditions) per entry of `models`, or per lambda ([] = the test conditions' lambdas)."""
    return on_cpu(prepare_coding(features=features, model=machine.model, task=machine.task, family="learned",
                                 legacy=legacy, overrides="{}", codecs=models,
                                 rate_points=lambdas, storage_uri=machine.storage_uri, preset=machine.preset)
                  ).set_display_name("truncate-quantize-learned")


def learned_evaluation(machine: MachineArgs, features: Any, item: Any, tracking_uri: Any, checkpoint: Any = None,
                       checkpoint_uri: Any = "") -> dsl.PipelineTask:
    """hyperprior_infer -> evaluate for the model of one grid item: a trained Model artifact
    (`checkpoint`) or a URI (`checkpoint_uri`: path, s3:// or models:/ via `tracking_uri`)."""
    source = {"checkpoint": checkpoint} if checkpoint is not None else {"checkpoint_uri": checkpoint_uri}
    inf = on_cpu(hyperprior_infer(features=features, lmbda=item.rate_point, conditions=item.conditions,
                                  codec_identity_hash=item.identity_hash, model=machine.model, task=machine.task,
                                  storage_uri=machine.storage_uri, tracking_uri=tracking_uri, label=item.label,
                                  preset=machine.preset, **source))
    return machine.evaluate(inf.outputs["recon"], features, item.label, item.rate_point, inf.outputs["results"])


def report_step(trad: Traditional, learned_points: Any, anchor: Any, title: Any, tracking_uri: Any,
                storage_uri: Any = "", preset: Any = "") -> dsl.PipelineTask:
    """The fan-in; `learned_points` is a dsl.Collected of the learned branch, or None. Published
    (when `storage_uri` is set) to reports/<KFP run name>/. The report names `preset`; anchor ''
    is the preset's."""
    optional = {} if learned_points is None else {"learned_points": learned_points}
    return on_cpu(report(points=dsl.Collected(trad.points.outputs["point"]),
                         uncompressed=trad.uncompressed_point.outputs["point"],
                         quantized=trad.quantized_point.outputs["point"], anchor=anchor, title=title,
                         tracking_uri=tracking_uri, storage_uri=storage_uri,
                         run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER, preset=preset, **optional))


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
            learned_points = None
            if learned:
                grid = learned_grid(machine, features, hyperprior, [], legacy)
                with dsl.ParallelFor(grid.outputs["Output"], name="hyperprior-models") as item:
                    ev = learned_evaluation(machine, features, item, tracking_uri, checkpoint_uri=item.uri)
                learned_points = dsl.Collected(ev.outputs["point"])
            report_step(trad, learned_points, anchor, title, tracking_uri, storage_uri, preset)

        with_features(machine, features_uri, body)

    return benchmark


benchmark = build_benchmark(learned=True)
benchmark_traditional = build_benchmark(learned=False)
