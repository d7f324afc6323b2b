"""Every environment variable fcbench reads, in one typed table: name, type, default, meaning.

fcbench is configured through the environment (a KFP task inherits it from its pod, a local run
from the shell), and this module is the only place that reads those variables: callers use the
typed accessors (`settings.STAGE_DIR.get()`), `fcbench doctor` prints `report()`, and
docs/settings.md holds `markdown_table()` (a test keeps the two equal). It lives in the bottom
layer, and imports only the standard library, so that codecs, components and pipelines can all
read it.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Mapping, Optional, Union

Kind = Literal["str", "path", "bool", "int", "count", "seconds", "secret"]
Env = Optional[Mapping[str, str]]
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class SettingError(ValueError):
    """An environment variable whose value does not parse as its type."""


@dataclass(frozen=True)
class Setting:
    """One environment variable. `default` is the value when it is unset (a callable is called
    then), `default_text` how the table states it; `fallbacks` are read, in order, when the
    variable itself is unset or empty."""

    name: str
    kind: Kind
    group: str
    meaning: str
    default: Any = None
    default_text: str = "unset"
    fallbacks: tuple[str, ...] = ()

    def raw(self, env: Env = None) -> Optional[str]:
        """The first non-empty value of the variable or its fallbacks; None when all are unset."""
        env = os.environ if env is None else env
        for name in (self.name, *self.fallbacks):
            value = env.get(name)
            if value is not None and value.strip() != "":
                return value.strip()
        return None

    def get(self, env: Env = None) -> Any:
        """The typed value, or the default when unset; SettingError names a bad value."""
        raw = self.raw(env)
        if raw is None:
            return self.default() if callable(self.default) else self.default
        return _PARSERS[self.kind](self.name, raw)

    def shown(self, env: Env = None) -> str:
        """The value as `fcbench doctor` prints it (secrets masked)."""
        raw = self.raw(env)
        if raw is None:
            return f"not set (default: {self.default_text})"
        return "set (hidden)" if self.kind == "secret" else raw


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingError(f"{name}={raw!r} is not a boolean (use true/false)")


def _parse_int(name: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise SettingError(f"{name}={raw!r} must be a positive integer")
    return int(raw)


def _parse_count(name: str, raw: str) -> int:
    if not raw.isdigit():
        raise SettingError(f"{name}={raw!r} must be a whole number (0 or more)")
    return int(raw)


def _parse_seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value < float("inf")):
        raise SettingError(f"{name}={raw!r} must be a positive number of seconds")
    return value


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "str": lambda name, raw: raw,
    "secret": lambda name, raw: raw,
    "path": lambda name, raw: Path(raw).expanduser(),
    "bool": _parse_bool,
    "int": _parse_int,
    "count": _parse_count,
    "seconds": _parse_seconds,
}

SETTINGS: dict[str, Setting] = {}


def _define(name: str, kind: Kind, group: str, meaning: str, default: Any = None, default_text: str = "unset",
            fallbacks: tuple[str, ...] = ()) -> Setting:
    setting = Setting(name, kind, group, meaning, default, default_text, fallbacks)
    SETTINGS[name] = setting
    return setting


def _default_stage_dir() -> Path:
    return Path.home() / ".cache" / "fcbench" / "stage"


# ---- codec binaries (fcbench never builds or downloads them) ----------------------------------
VTM_ENCODER = _define("FCBENCH_VTM_ENCODER", "path", "codecs", "VTM encoder binary (EncoderAppStatic)",
                      default_text="`EncoderAppStatic` or `EncoderApp` on PATH")
VTM_DECODER = _define("FCBENCH_VTM_DECODER", "path", "codecs", "VTM decoder binary (DecoderAppStatic)",
                      default_text="on PATH, else PyAV's VVC decoder (bit-exact)")
VTM_CFG = _define("FCBENCH_VTM_CFG", "path", "codecs", "VTM all-intra encoder cfg",
                  default_text="`<vtm>/cfg/encoder_intra_vtm.cfg` above the encoder")
VVENC_ENCODER = _define("FCBENCH_VVENC_ENCODER", "path", "codecs", "VVenC encoder binary (vvencFFapp)",
                        default_text="`vvencFFapp` on PATH")
VVDEC_DECODER = _define("FCBENCH_VVDEC_DECODER", "path", "codecs", "VVdeC decoder binary (vvdecapp)",
                        default_text="on PATH, else PyAV's VVC decoder")
# A codec tool that never exits must not hold a sweep forever: each run gets base + per-megapixel
# seconds (VTM takes ~270 CPU-s per megapixel at QP 22 on one idle core; the default leaves 10x).
TOOL_TIMEOUT_BASE = _define("FCBENCH_TOOL_TIMEOUT_BASE", "seconds", "codecs",
                            "time limit of one VTM/VVenC/decoder run: this many seconds plus "
                            "`FCBENCH_TOOL_TIMEOUT_PER_MPIXEL` per megapixel of the frame (a codec's `timeout` "
                            "option overrides both)", 60.0, "60")
TOOL_TIMEOUT_PER_MPIXEL = _define("FCBENCH_TOOL_TIMEOUT_PER_MPIXEL", "seconds", "codecs",
                                  "seconds per megapixel added to `FCBENCH_TOOL_TIMEOUT_BASE`", 3000.0, "3000")

# ---- object storage ----------------------------------------------------------------------------
S3_ENDPOINT = _define("FCBENCH_S3_ENDPOINT", "str", "storage", "S3/MinIO endpoint: `host:port` or `http(s)://host:port`",
                      default_text="unset (s3:// URIs are refused)")
S3_ACCESS_KEY = _define("FCBENCH_S3_ACCESS_KEY", "secret", "storage", "S3 access key",
                        default_text="`AWS_ACCESS_KEY_ID`, else anonymous", fallbacks=("AWS_ACCESS_KEY_ID",))
S3_SECRET_KEY = _define("FCBENCH_S3_SECRET_KEY", "secret", "storage", "S3 secret key",
                        default_text="`AWS_SECRET_ACCESS_KEY`", fallbacks=("AWS_SECRET_ACCESS_KEY",))
S3_SECURE = _define("FCBENCH_S3_SECURE", "bool", "storage", "use https for the S3 endpoint",
                    default_text="from the endpoint's scheme, else false")
S3_REGION = _define("FCBENCH_S3_REGION", "str", "storage", "S3 region", default_text="the endpoint's default")
# A dead or hung endpoint must fail in about 30 s, not minutes: (1 + retries) x read timeout.
S3_CONNECT_TIMEOUT = _define("FCBENCH_S3_CONNECT_TIMEOUT", "seconds", "storage",
                             "seconds to open a connection to the S3 endpoint", 5.0, "5")
S3_READ_TIMEOUT = _define("FCBENCH_S3_READ_TIMEOUT", "seconds", "storage",
                          "seconds to wait for the S3 endpoint's answer to a request a live server "
                          "answers at once (stat, list, delete; a hung endpoint fails after (1 + retries) "
                          "times this)", 8.0, "8")
S3_TRANSFER_TIMEOUT = _define("FCBENCH_S3_TRANSFER_TIMEOUT", "seconds", "storage",
                              "seconds to wait for the answer to an upload or download request (a server "
                              "assembles a large multipart object before it answers)", 120.0, "120")
S3_MIN_RATE = _define("FCBENCH_S3_MIN_RATE", "int", "storage",
                      "KiB per second a request's body must at least move at: every S3 request ends within its "
                      "timeout plus its body's size at this rate, or it is cut (an endpoint that trickles its "
                      "answer byte by byte fails instead of hanging)", 256, "256")
S3_RETRIES = _define("FCBENCH_S3_RETRIES", "count", "storage",
                     "retries of a failed S3 request (connection refused or reset, timeout, HTTP 5xx)", 2, "2")
SSL_CERT_FILE = _define("SSL_CERT_FILE", "path", "storage", "CA bundle for https S3 endpoints (the standard variable)",
                        default_text="certifi's bundle")
STAGE_DIR = _define("FCBENCH_STAGE_DIR", "path", "storage",
                    "where `s3://` and `models:/` inputs are staged (verified local copies, reused when intact), "
                    "by the CLI and by pipeline tasks alike", _default_stage_dir, "`~/.cache/fcbench/stage`")

# ---- runs ----------------------------------------------------------------------------------------
CACHE_DIR = _define("FCBENCH_CACHE_DIR", "path", "runs",
                    "persistent cache of pipeline tasks: finished codec jobs and training checkpoints. On a "
                    "cluster point it at a volume that outlives the pod: it is the only way a retried task "
                    "resumes instead of starting over", default_text="unset (each task works in a temporary folder)")
SWEEP_JOBS = _define("FCBENCH_SWEEP_JOBS", "int", "runs", "worker processes of the codec sweep inside one task "
                     "(pipelines set it to the task's CPU limit)",
                     default_text="the CPUs this process may use: affinity and cgroup CPU limit "
                                  "(`fcbench run --local` uses 1 while it runs)")
ERROR_LOG = _define("FCBENCH_ERROR_LOG", "path", "runs",
                    "JSON-lines file where a failing stage records itself (set by `fcbench run --local` for "
                    "its tasks, to name the stage, sample and rate point that failed)")
PROGRESS_LOG = _define("FCBENCH_PROGRESS_LOG", "path", "runs",
                       "JSON-lines file where every stage records its start and end (set by `fcbench run --local` "
                       "and `fcbench demo` for their tasks, to show progress on the terminal)")
WARM_TASKS = _define("FCBENCH_WARM_TASKS", "bool", "runs",
                     "`fcbench run --local` and `fcbench demo` start their tasks from a warm task server that has "
                     "imported torch, CompressAI and MLflow once (fcbench.pipelines.task_server), instead of a new "
                     "interpreter per task; false: a new interpreter per task, as the runner does by itself",
                     True, "true")
OMP_THREADS = _define("OMP_NUM_THREADS", "int", "runs",
                      "the thread budget of a process (OpenMP's own variable): torch's intra-op threads of a "
                      "single job; a sweep of J jobs gives each budget // J (at least 1), so jobs x threads stays "
                      "within it and speed columns mean the same everywhere (fcbench.codecs.common.cpus); `fcbench run "
                      "--local` gives each task 1 unless set (the runner runs two tasks at once; two trainings "
                      "with two threads each livelocked on 2 cores)",
                      default_text="the CPUs this process may use (`fcbench run --local`: 1 per task; pipelines: "
                                   "the CPU limit)")

# ---- tracking ------------------------------------------------------------------------------------
TRACKING_URI = _define("MLFLOW_TRACKING_URI", "str", "tracking",
                       "MLflow tracking server (`http(s)://...`) or database (`sqlite:///...`) (MLflow's own variable)",
                       default_text="a sqlite store in `FCBENCH_MLFLOW_DIR` (CLI); no tracking (pipeline tasks)")
OFFLINE_DIR = _define("FCBENCH_OFFLINE_DIR", "path", "tracking",
                      "offline tracking journal: where pipeline stages record tracking while MLflow is unreachable "
                      "(upload later with `fcbench upload-tracking`); pipelines set it to the cache volume",
                      lambda: Path.home() / ".cache" / "fcbench" / "offline-tracking", "`~/.cache/fcbench/offline-tracking`")
KFP_UI_URL = _define("FCBENCH_KFP_UI_URL", "str", "tracking",
                     "base URL of the Kubeflow Pipelines UI (e.g. `https://kubeflow.example.org/pipeline`): MLflow runs "
                     "link back to `<url>/#/runs/details/<run id>` (set on the cluster from the endpoints ConfigMap)",
                     default_text="unset (runs carry the KFP run id, no link)")
MLFLOW_UI_URL = _define("FCBENCH_MLFLOW_UI_URL", "str", "tracking",
                        "browser URL of the MLflow UI, for links in reports (the in-cluster tracking URI is not "
                        "reachable from a browser)", default_text="the tracking URI when it is http(s)")
MLFLOW_DIR = _define("FCBENCH_MLFLOW_DIR", "path", "tracking",
                     "folder of the local sqlite MLflow store used when `MLFLOW_TRACKING_URI` is unset",
                     default_text="`./mlflow`")

# ---- container images (read when the pipelines are imported: `fcbench compile` sets them) --------
CODEC_IMAGE = _define("FCBENCH_CODEC_IMAGE", "str", "images", "full reference of the CPU codec image (wins over "
                      "registry and tag), e.g. `reg/fcbench-codec@sha256:...`",
                      default_text="`<registry>/fcbench-codec:<tag>`")
GPU_IMAGE = _define("FCBENCH_GPU_IMAGE", "str", "images", "full reference of the GPU image",
                    default_text="`<registry>/fcbench-gpu:<tag>`")
IMAGE_REGISTRY = _define("FCBENCH_IMAGE_REGISTRY", "str", "images", "registry of the fcbench images",
                         "ghcr.io/fcbench", "`ghcr.io/fcbench`")
IMAGE_TAG = _define("FCBENCH_IMAGE_TAG", "str", "images", "tag of the fcbench images",
                    default_text="the installed fcbench version")
KFP_RUNTIME = _define("_KFP_RUNTIME", "bool", "images", "set by KFP inside a running component (KFP's own "
                      "variable): the component decorators then leave the functions as they are", False, "false")

# ---- provenance (tags on every MLflow run) ---------------------------------------------------------
GIT_SHA = _define("FCBENCH_GIT_SHA", "str", "provenance", "commit recorded on runs (the images bake it in)",
                  default_text="`git rev-parse HEAD` of the source tree")
IMAGE_DIGEST = _define("FCBENCH_IMAGE_DIGEST", "str", "provenance", "digest of the image a task runs in, "
                       "recorded on runs (set by the deployment)")

# ---- command line ----------------------------------------------------------------------------------
WEIGHTS = _define("FCBENCH_WEIGHTS", "str", "cli", "default `--weights` of `fcbench extract` / `evaluate`")
DATA = _define("FCBENCH_DATA", "str", "cli", "default `--data` of `fcbench extract` / `evaluate`")

# ---- the test suite ----------------------------------------------------------------------------------
REGEN_GOLDEN = _define("FCBENCH_REGEN_GOLDEN", "bool", "tests",
                       "rewrite the compiled golden pipeline YAML instead of comparing against it", False, "false")
INCEPTION_WEIGHTS = _define("FCBENCH_INCEPTION_WEIGHTS", "path", "tests",
                            "a local `pt_inception-2015-12-05` file, to check the real 2048-d FID extractor",
                            default_text="unset (that test skips)")
LLAMA3_TOKENIZER = _define("FCBENCH_LLAMA3_TOKENIZER", "path", "tests",
                           "a real Llama-3 tokenizer folder, to check the reference's prompt token counts",
                           default_text="unset (that test skips)")


# MLflow's own client variables, set (when unset) before fcbench makes an MLflow client: a server
# that dies mid-run must not stall a task for minutes of retries, and stdout is for results (the
# client would print a "View run" URL, costing a request, per run).
MLFLOW_CLIENT_DEFAULTS: dict[str, str] = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}


# SVT-AV1's (the av1 codec's encoder library) own variable: unless its log level says errors
# only, it prints its whole configuration to stderr at every encode.
SVT_AV1_DEFAULTS: dict[str, str] = {"SVT_LOG": "1"}


def _set_where_unset(defaults: Mapping[str, str]) -> None:
    for name, value in defaults.items():
        os.environ.setdefault(name, value)


def apply_mlflow_client_defaults() -> None:
    """Set MLFLOW_CLIENT_DEFAULTS where the environment leaves them unset (MLflow reads them from
    the environment at every request: there is no other way to configure them)."""
    _set_where_unset(MLFLOW_CLIENT_DEFAULTS)


def apply_svt_av1_defaults() -> None:
    """Set SVT_AV1_DEFAULTS where unset (SVT-AV1 reads them when an encoder starts)."""
    _set_where_unset(SVT_AV1_DEFAULTS)


def export(values: Union[Mapping[Setting, str], Mapping[str, str]]) -> None:
    """Set these variables for the rest of this process and the subprocesses it starts."""
    os.environ.update({(k.name if isinstance(k, Setting) else k): v for k, v in values.items()})


def whole_environment() -> dict[str, str]:
    """A copy of this process's whole environment, to hand on to a process started another way
    than by inheritance (the warm task server's tasks)."""
    return dict(os.environ)


def become_environment(values: Mapping[str, str]) -> None:
    """Make `values` this process's whole environment (a task forked by the warm task server
    takes its client's)."""
    os.environ.clear()
    os.environ.update(values)


INTERNAL_GROUPS = ("tests",)  # settings of fcbench's own tests: not a user's business


def report(env: Env = None) -> dict[str, str]:
    """{name: value as shown} of every setting a user sets, for `fcbench doctor` (not those
    KFP sets inside a task, nor the test suite's)."""
    return {s.name: s.shown(env) for s in SETTINGS.values()
            if not s.name.startswith("_") and s.group not in INTERNAL_GROUPS}


def markdown_table() -> str:
    """The settings table of docs/settings.md."""
    rows = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS.values():
        fallback = f" (falls back to `{'`, `'.join(s.fallbacks)}`)" if s.fallbacks else ""
        rows.append(f"| `{s.name}` | {s.kind} | {s.default_text} | {s.group}: {s.meaning}{fallback} |")
    rows += ["", "fcbench also sets these MLflow client variables when they are unset: "
             + ", ".join(f"`{k}={v}`" for k, v in MLFLOW_CLIENT_DEFAULTS.items()) + "."]
    return "\n".join(rows)


@contextlib.contextmanager
def environment(values: Union[Mapping[Setting, Optional[str]], Mapping[str, Optional[str]]]) -> Iterator[None]:
    """Set (None: remove) these variables for the body, for this process and the subprocesses it
    starts, and put every one back as it was afterwards."""
    names = {(k.name if isinstance(k, Setting) else k): v for k, v in values.items()}
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name, value in names.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
