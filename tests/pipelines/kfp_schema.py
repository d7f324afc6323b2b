"""Check a compiled pipeline against the IR protos of a KFP backend version, as its API server
(PipelineSpec, PlatformSpec: strict protojson on upload) and its Argo compiler and driver
(KubernetesExecutorConfig: strict protojson) read it: every key must be a field of the message it
sits in, every enum value a name of the enum. Field tables: tests/fixtures/kfp_protos/ (extract.py
writes them from kubeflow/pipelines at the commits each backend builds with)."""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Optional

from tests.paths import FIXTURES

SCALARS = {"double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64",
           "sfixed32", "sfixed64", "bool", "string", "bytes"}
# JSON forms protojson reads without a message of KFP's: free-form, or a string
OPAQUE = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Any",
          "google.protobuf.Duration", "google.protobuf.Timestamp", "google.rpc.Status"}
PACKAGES = {"ml_pipelines": "pipeline_spec", "kfp_kubernetes": "kubernetes"}


@lru_cache(maxsize=None)
def tables(version: str) -> dict:
    return json.loads((FIXTURES / "kfp_protos" / f"kfp-{version}.json").read_text())


def versions() -> list[str]:
    names = [p.stem.removeprefix("kfp-") for p in (FIXTURES / "kfp_protos").glob("kfp-*.json")]
    return sorted(names, key=lambda v: tuple(int(x) for x in v.split(".")))


class _Schema:
    def __init__(self, version: str) -> None:
        self.t = tables(version)

    def resolve(self, file: str, scope: str, name: str) -> tuple[str, str, str]:
        """(kind: message|enum|scalar|opaque, file, full name) of a type named in `scope`."""
        if name in SCALARS:
            return "scalar", file, name
        if name in OPAQUE or name.startswith("google."):
            return "opaque", file, name
        head, _, rest = name.partition(".")
        if head in PACKAGES:
            file, name, scope = PACKAGES[head], rest, ""
        parts = scope.split(".") if scope else []
        for depth in range(len(parts), -1, -1):
            full = ".".join([*parts[:depth], name])
            if full in self.t[file]["messages"]:
                return "message", file, full
            if full in self.t[file]["enums"]:
                return "enum", file, full
        raise KeyError(f"type {name} not found from {file}:{scope}")

    def field(self, file: str, message: str, key: str) -> Optional[dict]:
        fields = self.t[file]["messages"][message]["fields"]
        return fields.get(key) or next((f for f in fields.values() if f["proto_name"] == key), None)


def unknown_fields(pipeline_yaml_docs: list[dict], version: str) -> list[str]:
    """The paths of the keys and enum values the given backend version's protos do not have."""
    schema = _Schema(version)
    problems: list[str] = []

    def walk(value: Any, file: str, message: str, path: str) -> None:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object ({message})")
            return
        for key, item in value.items():
            f = schema.field(file, message, key)
            if f is None:
                problems.append(f"{path}.{key}: no field {key!r} in {message}")
                continue
            kind, ffile, full = schema.resolve(file, f["scope"], f["type"])
            items: list[tuple[str, Any]]
            if f["label"] == "map":
                items = [(f"{path}.{key}.{k}", v) for k, v in (item or {}).items()]
            elif f["label"] == "repeated":
                items = [(f"{path}.{key}[{i}]", v) for i, v in enumerate(item or [])]
            else:
                items = [(f"{path}.{key}", item)]
            for where, v in items:
                if kind == "message":
                    walk(v, ffile, full, where)
                elif kind == "enum" and isinstance(v, str) and v not in schema.t[ffile]["enums"][full]:
                    problems.append(f"{where}: {v!r} is not a value of {full}")

    pipeline, *rest = pipeline_yaml_docs
    walk(pipeline, "pipeline_spec", "PipelineSpec", "pipelineSpec")
    for platform in rest:
        walk(platform, "pipeline_spec", "PlatformSpec", "platformSpec")
        executors = platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
        for name, config in executors.items():
            walk(config, "kubernetes", "KubernetesExecutorConfig", f"kubernetes.executors.{name}")
    return problems
