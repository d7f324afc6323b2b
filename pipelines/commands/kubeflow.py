"""Commands against a Kubeflow Pipelines backend: `fcbench submit` (a run) and `fcbench upload`
(the compiled pipeline as a pipeline and new versions of it, so the UI keeps the history).

Authentication for multi-user Kubeflow (Dex/oauth2-proxy, Istio): `--token`, `--token-file` (a
service-account token, e.g. a projected one in a notebook) or `--cookie` (the session cookie of
a logged-in browser). Both commands check that the host answers and that its backend is new
enough for the IR (pipelines/kfp_backend.py) before doing anything.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from fcbench.pipelines import kfp_target
from fcbench.pipelines.commands.kfp import _add_params, add_deploy, add_images, apply_images, collect_arguments, deployment_from_args, resolve
from fcbench.pipelines.kfp_backend import Credentials, check_host, parse_version, require_backend


def _add_connection(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Kubeflow endpoint and authentication")
    g.add_argument("--host", required=True, help="KFP API endpoint, e.g. https://kubeflow.example.org/pipeline")
    g.add_argument("--namespace", help="your profile namespace (default: the kfp SDK's saved namespace; a multi-user "
                                       "backend needs one)")
    auth = g.add_mutually_exclusive_group()
    auth.add_argument("--token", help="bearer token (e.g. `kubectl create token default-editor -n NS`)")
    auth.add_argument("--token-file", help="file holding a service-account token (re-read when it rotates)")
    auth.add_argument("--cookie", help="session cookie NAME=VALUE of a logged-in browser (authservice_session=... "
                                       "or oauth2_proxy_kubeflow=...)")
    g.add_argument("--ca-cert", help="CA bundle of the endpoint's TLS certificate")
    g.add_argument("--skip-version-check", action="store_true",
                   help="do not ask the backend its version (it must still be 2.15 or newer)")


def credentials(args: argparse.Namespace) -> Credentials:
    return Credentials(token=args.token or "", token_file=args.token_file or "", cookie=args.cookie or "",
                       ca_cert=args.ca_cert or "")


def connect(args: argparse.Namespace) -> Any:
    """A kfp.Client for the endpoint, after checking it answers and is new enough, bound to the
    user's namespace (`args.namespace` is set to it)."""
    import kfp

    creds = credentials(args)
    check_host(args.host)
    multi_user = None
    args.backend_target = None  # the backend's (major, minor): the IR is rewritten for an older one
    if not args.skip_version_check:
        verdict, info = require_backend(args.host, creds)
        print(verdict)
        multi_user = bool(info.get("multi_user"))
        version = parse_version(str(info.get("tag_name", "")))
        args.backend_target = version[:2] if version else None
    client = kfp.Client(host=args.host, namespace=args.namespace, **creds.client_kwargs())
    args.namespace = args.namespace or client.get_user_namespace() or None
    if not args.namespace and multi_user:
        raise ValueError(f"{args.host} is a multi-user Kubeflow: give --namespace (your profile's namespace; the kfp "
                         f"SDK has none saved)")
    return client


def uncached(ir_path: Path) -> None:
    """Turn caching off for every task of a compiled pipeline, at every depth (inside loops and
    conditions too: the kfp SDK's enable_caching=False reaches only the top-level tasks)."""
    import yaml

    docs = list(yaml.safe_load_all(ir_path.read_text()))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "cachingOptions" in node or ("taskInfo" in node and "componentRef" in node):  # a task
                node["cachingOptions"] = {"enableCache": False}
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(docs[0])
    ir_path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submit", help="start a pipeline run on Kubeflow Pipelines (compiled here, or an uploaded version)")
    p.add_argument("pipeline")
    p.add_argument("--experiment", default="fcbench", help="KFP experiment (created if missing)")
    p.add_argument("--run-name", help="default: <pipeline>-<time>")
    p.add_argument("--from-upload", metavar="NAME", help="run the uploaded pipeline NAME (`fcbench upload`) instead "
                                                          "of compiling here")
    p.add_argument("--version", help="with --from-upload: the version to run (default: the newest)")
    p.add_argument("--no-cache", action="store_true")
    _add_connection(p)
    _add_params(p)
    add_images(p)
    add_deploy(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("upload", help="upload a compiled pipeline to Kubeflow as a pipeline, or a new version of it")
    p.add_argument("pipeline")
    p.add_argument("--name", required=True, help="pipeline name in the Kubeflow UI")
    p.add_argument("--version", help="version name (default: fcbench-<version>-<UTC time>)")
    p.add_argument("--description")
    p.add_argument("--private", action="store_true", help="a pipeline of --namespace only (default: shared with every "
                                                          "namespace, which a multi-user install may reserve to admins)")
    p.add_argument("--no-cache", action="store_true",
                   help="compile the version with caching off for every task (runs of it never reuse results)")
    _add_connection(p)
    _add_params(p)
    add_images(p)
    add_deploy(p)
    p.set_defaults(func=cmd_upload)


def _api_error(what: str, exc: Exception) -> RuntimeError:
    """A one-line error for a failed API call (kfp_server_api.ApiException carries status and body)."""
    status = getattr(exc, "status", None)
    body = str(getattr(exc, "body", "") or exc).strip().splitlines()
    return RuntimeError(f"{what} failed" + (f" (HTTP {status})" if status else "") + f": {body[0][:300] if body else exc}")


def _compiled(args: argparse.Namespace, arguments: dict, folder: Path, exact: bool) -> tuple[str, Path]:
    """Compile the pipeline with the image and deployment options into `folder`, with `arguments`
    as its parameters' defaults, caching off at every depth with --no-cache. `exact`: the named
    pipeline itself (an upload keeps the benchmark's hyperprior branch for runs that give one)."""
    from kfp import compiler

    key, pipeline = resolve(args.pipeline, arguments, deployment_from_args(args), exact=exact)
    path = folder / f"{key}.yaml"
    compiler.Compiler().compile(pipeline, str(path), pipeline_parameters=arguments or None)
    if args.no_cache:
        uncached(path)
    return key, path


def default_version_name() -> str:
    from fcbench.components.provenance import version

    return f"fcbench-{version()}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def find_version(client: Any, pipeline_id: str, version: Optional[str]) -> Any:
    """The version named `version` of a pipeline, else its newest."""
    if version:
        flt = json.dumps({"predicates": [{"key": "display_name", "operation": "EQUALS", "string_value": version}]})
        found = client.list_pipeline_versions(pipeline_id, filter=flt).pipeline_versions or []
        if not found:
            raise KeyError(f"the uploaded pipeline has no version {version!r}")
        return found[0]
    found = client.list_pipeline_versions(pipeline_id, sort_by="created_at desc", page_size=1).pipeline_versions or []
    if not found:
        raise KeyError("the uploaded pipeline has no versions")
    return found[0]


def _private_namespace(args: argparse.Namespace) -> Optional[str]:
    if not args.private:
        return None
    if not args.namespace:
        raise ValueError("--private needs --namespace (the profile namespace that owns the pipeline)")
    return args.namespace


def cmd_upload(args: argparse.Namespace) -> int:
    _private_namespace(args)  # argument errors before compiling
    apply_images(args)
    arguments = collect_arguments(args)
    with tempfile.TemporaryDirectory() as tmp:
        key, path = _compiled(args, arguments, Path(tmp), exact=True)
        client = connect(args)
        kfp_target.rewrite(path, args.backend_target, key)
        try:
            pipeline_id = client.get_pipeline_id(args.name)
            if pipeline_id is None:
                made = client.upload_pipeline(str(path), pipeline_name=args.name, description=args.description,
                                              namespace=_private_namespace(args))
                print(f"uploaded {key} as new pipeline {args.name!r} (id {made.pipeline_id}) at {args.host}"
                      + (f", namespace {args.namespace}" if args.private else ", shared"))
                if not args.version:
                    return 0
                pipeline_id = made.pipeline_id
            version = args.version or default_version_name()
            made_version = client.upload_pipeline_version(str(path), pipeline_version_name=version,
                                                          pipeline_id=pipeline_id, description=args.description)
        except Exception as exc:  # kfp_server_api.ApiException and transport errors: one line, host named
            raise _api_error(f"uploading {key} to {args.host}", exc) from exc
    print(f"uploaded {key} as version {version!r} (id {made_version.pipeline_version_id}) of pipeline {args.name!r}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from fcbench.components import cluster

    apply_images(args)
    arguments = collect_arguments(args)
    if args.version and not args.from_upload:
        raise ValueError("--version needs --from-upload NAME")
    if args.from_upload and args.no_cache:
        raise ValueError("--no-cache cannot reach an uploaded version (its tasks cache as its IR says): upload a "
                         "version with `fcbench upload ... --no-cache` and run that")
    run_name = args.run_name or f"{args.pipeline}-{time.strftime('%Y%m%d-%H%M%S')}"
    with tempfile.TemporaryDirectory() as tmp:
        name, path = (args.from_upload, None) if args.from_upload else _compiled(args, arguments, Path(tmp), exact=False)
        client = connect(args)
        if path is not None:
            kfp_target.rewrite(path, args.backend_target, name)
        try:
            if args.from_upload:
                pipeline_id = client.get_pipeline_id(args.from_upload)
                if pipeline_id is None:
                    raise KeyError(f"no uploaded pipeline {args.from_upload!r} at {args.host} (fcbench upload ... --name)")
                version = find_version(client, pipeline_id, args.version)
                experiment = client.create_experiment(args.experiment, namespace=args.namespace)
                # enable_caching=None: each task caches as the uploaded IR says (never-cache tasks stay uncached)
                run = client.run_pipeline(experiment_id=experiment.experiment_id, job_name=run_name, params=arguments,
                                          pipeline_id=pipeline_id, version_id=version.pipeline_version_id,
                                          enable_caching=None, service_account=cluster.SERVICE_ACCOUNT)
                run_id = run.run_id
            else:  # enable_caching=None: as compiled (never-cache tasks stay uncached; --no-cache: none cached)
                run_id = client.create_run_from_pipeline_package(
                    str(path), arguments=arguments, run_name=run_name, experiment_name=args.experiment,
                    namespace=args.namespace, enable_caching=None, service_account=cluster.SERVICE_ACCOUNT).run_id
        except KeyError:
            raise
        except Exception as exc:
            raise _api_error(f"submitting {name} to {args.host}", exc) from exc
    print(f"submitted {name}: run {run_id} ({run_name}) in experiment {args.experiment}, namespace {args.namespace}, "
          f"at {args.host}")
    return 0
