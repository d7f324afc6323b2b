"""Talking to a Kubeflow Pipelines backend: credentials (the kfp SDK's options), reachability and
the backend version this IR needs.

Every task has a sized scratch volume (emptyDirMounts: KFP 2.4) and the benchmark pipelines fan
in artifacts with `dsl.Collected` (KFP 2.14); kfp-kubernetes 2.17 writes fields older backends
lack, which `submit`/`upload` leave out for them (kfp_target.py). MIN_BACKEND is the oldest
backend that runs some fcbench pipeline; `fcbench doctor --kfp-host` says which.

Two servers answer the version probe: the API server itself (`tag_name`, `multi_user`) and,
behind a Kubeflow install's `https://<host>/pipeline`, the UI server (`apiServerTagName`,
`apiServerMultiUser`, `frontendTagName`); both answers are understood.
"""
from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

from fcbench.pipelines.kfp_target import COLLECTED, NATIVE, OLDEST

MIN_BACKEND = OLDEST
ALL_PIPELINES = COLLECTED  # the oldest backend that runs every fcbench pipeline
HEALTHZ = "/apis/v1beta1/healthz"  # API server: {commit_sha, tag_name, multi_user}; UI server: apiServerTagName, ...


@dataclass(frozen=True)
class Credentials:
    """One way to authenticate to a (multi-user) Kubeflow: a bearer token, a token file (a
    Kubernetes service-account token, re-read when it rotates), or a session cookie
    (`authservice_session=...` / `oauth2_proxy_kubeflow=...` from a logged-in browser)."""

    token: str = ""
    token_file: str = ""
    cookie: str = ""
    ca_cert: str = ""

    def __post_init__(self) -> None:
        given = [n for n in ("token", "token_file", "cookie") if getattr(self, n)]
        if len(given) > 1:
            raise ValueError(f"give one of --token, --token-file and --cookie, not {' and '.join('--' + g.replace('_', '-') for g in given)}")
        if self.token_file and not Path(self.token_file).is_file():
            raise FileNotFoundError(f"--token-file {self.token_file} does not exist")
        if self.ca_cert and not Path(self.ca_cert).is_file():
            raise FileNotFoundError(f"--ca-cert {self.ca_cert} does not exist")
        if self.cookie and "=" not in self.cookie:
            raise ValueError("--cookie must be NAME=VALUE (e.g. authservice_session=...), as the browser sends it")

    def headers(self) -> dict[str, str]:
        """HTTP headers for a direct request (the healthz probe)."""
        if self.token or self.token_file:
            token = self.token or Path(self.token_file).read_text().strip()
            return {"Authorization": f"Bearer {token}"}
        return {"Cookie": self.cookie} if self.cookie else {}

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of kfp.Client for these credentials."""
        kwargs: dict[str, Any] = {}
        if self.token:
            kwargs["existing_token"] = self.token
        elif self.token_file:
            from kfp.client import ServiceAccountTokenVolumeCredentials

            kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(path=self.token_file)
        elif self.cookie:
            kwargs["cookies"] = self.cookie
        if self.ca_cert:
            kwargs["ssl_ca_cert"] = self.ca_cert
        return kwargs


def normalize_host(host: str) -> str:
    parsed = urlparse(host if "://" in host else f"http://{host}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"--host {host!r} is not an http(s) URL")
    return parsed.geturl().rstrip("/")


def check_host(host: str, timeout: float = 3.0) -> None:
    """Fail fast with the endpoint named (kfp.Client would otherwise retry for a long time)."""
    parsed = urlparse(normalize_host(host))
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        raise RuntimeError(f"Kubeflow Pipelines at {host} is unreachable: {exc}") from exc


def parse_version(tag: str) -> Optional[tuple[int, int, int]]:
    """'2.14.0', 'v2.5.0-rc.1' -> (2, 14, 0); None when it is not a version."""
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", tag.strip())
    return (int(match[1]), int(match[2]), int(match[3] or 0)) if match else None


def version_verdict(tag: str) -> tuple[bool, str]:
    """(new enough, a sentence saying so) for a backend's version tag."""
    version = parse_version(tag)
    need, every = ".".join(map(str, MIN_BACKEND)), ".".join(map(str, ALL_PIPELINES))
    if version is None:
        return False, (f"KFP backend version {tag!r} is unknown; fcbench's pipelines need {need} or newer, the "
                       f"benchmark pipelines {every}")
    if version[:2] < MIN_BACKEND:
        return False, (f"KFP backend {tag} is too old: fcbench's pipelines need {need} or newer (every task's scratch "
                       f"volume), the benchmark pipelines {every} (dsl.Collected of artifacts); upgrade Kubeflow Pipelines")
    target = f"`fcbench compile --kfp-target {version[0]}.{version[1]}` for a YAML to upload in the UI"
    if version[:2] < ALL_PIPELINES:
        return True, (f"KFP backend {tag}: fit_klt and train_hyperprior run there (submit/upload rewrite them for it; "
                      f"{target}); the benchmark pipelines need {every} or newer (dsl.Collected of artifacts)")
    if version[:2] < NATIVE:
        return True, (f"KFP backend {tag} runs every fcbench pipeline, rewritten for it without the `optional` "
                      f"flags of kfp-kubernetes 2.17, which {tag} does not know ({target})")
    return True, f"KFP backend {tag} runs every fcbench pipeline (it needs {every} or newer: ok)"


def backend_info(host: str, credentials: Credentials, timeout: float = 10.0) -> dict:
    """The backend's version from its healthz answer (API or UI server: healthz_version); errors name the host."""
    url = normalize_host(host) + HEALTHZ
    request = urllib.request.Request(url, headers={"Accept": "application/json", **credentials.headers()})
    context = None
    if credentials.ca_cert:
        import ssl

        context = ssl.create_default_context(cafile=credentials.ca_cert)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:
            body = resp.read().decode()
    except urllib.error.HTTPError as exc:
        hint = " (authenticate with --token, --token-file or --cookie)" if exc.code in (401, 403) else ""
        raise RuntimeError(f"{url} answered HTTP {exc.code} {exc.reason}{hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise RuntimeError(f"Kubeflow Pipelines at {host} is unreachable: {getattr(exc, 'reason', exc)}") from None
    try:
        info = json.loads(body)
    except json.JSONDecodeError:
        raise RuntimeError(f"{url} did not answer JSON (a login page? authenticate with --token, --token-file "
                           f"or --cookie): {body[:120]!r}") from None
    version = healthz_version(info)
    if version is None:
        raise RuntimeError(f"{url} answered without a version: {body[:200]!r}")
    return version


def healthz_version(info: Any) -> Optional[dict]:
    """{tag_name, multi_user, answered_by} from either server's healthz answer; None without a version."""
    if not isinstance(info, dict):
        return None
    if "tag_name" in info:
        return {**info, "answered_by": "KFP API server"}
    if "apiServerTagName" in info:  # the UI server, in front of the API server under /pipeline
        return {"tag_name": info["apiServerTagName"], "multi_user": info.get("apiServerMultiUser"),
                "frontend": info.get("frontendTagName"), "answered_by": "KFP UI server"}
    return None


def require_backend(host: str, credentials: Credentials) -> tuple[str, dict]:
    """Refuse a backend too old for the IR; returns the verdict sentence and the backend's answer
    (its version as `tag_name`)."""
    info = backend_info(host, credentials)
    ok, verdict = version_verdict(str(info.get("tag_name", "")))
    if not ok:
        raise RuntimeError(verdict)
    return verdict, info
