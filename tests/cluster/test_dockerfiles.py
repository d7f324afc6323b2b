"""Static checks of the Dockerfiles (no Docker engine here): pinned bases, non-root, the fcbench
version baked in, the user's VTM copied (never fetched), contexts that hold what they COPY;
plus hadolint, the build script's context, and the build-time VTM check script."""
from __future__ import annotations

import fnmatch
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.cluster.helpers import IMAGES, REPO

DOCKERFILES = ("Dockerfile.codec", "Dockerfile.gpu", "Dockerfile.mlflow")
FCBENCH_IMAGES = ("Dockerfile.codec", "Dockerfile.gpu")
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, pending = [], ""
    for line in (IMAGES / name).read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        pending += " " + stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            keyword, _, rest = pending.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
            pending = ""
    return out


def arg_defaults(name: str) -> dict[str, str]:
    defaults = {}
    for keyword, rest in instructions(name):
        if keyword == "ARG" and "=" in rest:
            key, value = rest.split("=", 1)
            defaults[key] = value
    return defaults


def resolve(text: str, defaults: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), text)


@pytest.mark.parametrize("name", DOCKERFILES)
def test_bases_are_pinned(name):
    defaults = arg_defaults(name)
    stages = [rest for keyword, rest in instructions(name) if keyword == "FROM"]
    assert stages
    for stage in stages:
        base = resolve(stage.split()[0], defaults)
        if "AS vtm" in stage:
            continue  # the user's own VTM build, named by them (test_vtm_is_copied_not_fetched)
        repo_tag = base.split("@")[0].rsplit("/", 1)[-1]
        assert ":" in repo_tag and "@sha256:" in base or re.search(r":\d+\.\d+\.\d+", base), (
            f"{name}: base {base} must be pinned to a full version or a digest")
        assert "latest" not in base


@pytest.mark.parametrize("name", DOCKERFILES)
def test_runs_as_non_root(name):
    users = [rest for keyword, rest in instructions(name) if keyword == "USER"]
    assert users, f"{name} never leaves root"
    assert users[-1] not in ("root", "0") and not users[-1].startswith("0:")
    final_stage = max(i for i, (k, _) in enumerate(instructions(name)) if k == "FROM")
    assert any(k == "USER" for k, _ in instructions(name)[final_stage:])


@pytest.mark.parametrize("name", DOCKERFILES)
def test_version_is_baked_in(name):
    defaults = arg_defaults(name)
    assert defaults["FCBENCH_VERSION"] == VERSION, "ARG FCBENCH_VERSION must default to pyproject's version"
    text = " ".join(rest for _, rest in instructions(name))
    assert 'org.opencontainers.image.version="${FCBENCH_VERSION}"' in text
    assert 'org.opencontainers.image.revision="${FCBENCH_GIT_SHA}"' in text
    assert "FCBENCH_VERSION=${FCBENCH_VERSION}" in text  # ENV: visible to the running steps


@pytest.mark.parametrize("name", FCBENCH_IMAGES)
def test_fcbench_images_check_their_version_and_kfp(name):
    runs = [rest for keyword, rest in instructions(name) if keyword == "RUN"]
    assert any('install-fcbench.sh "${TORCH_INDEX_URL}" "${FCBENCH_VERSION}" ' in r for r in runs)
    script = (IMAGES / "install-fcbench.sh").read_text()
    assert 'python -c \'import kfp' in script  # install_kfp_package=False needs kfp in the image
    assert "/gcs /minio /s3" in script  # the KFP v2 launcher's local artifact folders


def test_vtm_is_copied_not_fetched():
    steps = instructions("Dockerfile.codec")
    assert ("FROM", "${VTM_IMAGE} AS vtm") in steps
    assert ("COPY", "--from=vtm /opt/vtm/ /opt/vtm/") in steps
    env = " ".join(rest for keyword, rest in steps if keyword == "ENV")
    for var in ("FCBENCH_VTM_ENCODER", "FCBENCH_VTM_DECODER", "FCBENCH_VTM_CFG", "FCBENCH_VVENC_ENCODER"):
        assert f"{var}=/opt/vtm/" in env
    # The check runs after the copy, as a build step.
    names = [f"{k} {r}" for k, r in steps]
    assert names.index("COPY --from=vtm /opt/vtm/ /opt/vtm/") < names.index("RUN /usr/local/lib/fcbench/check-vtm.sh")


@pytest.mark.parametrize("path", sorted(p.name for p in IMAGES.iterdir() if p.is_file()))
def test_nothing_is_downloaded_or_compiled(path):
    text = (IMAGES / path).read_text()
    for forbidden in ("curl ", "wget ", "git clone", "cmake", "make ", "ADD http", "vcgit.hhi", "jvet"):
        assert forbidden not in text, f"images/{path} contains {forbidden!r}"


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins; a directory match covers
    everything below it."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if pat.startswith("**/"):
            hit = any(fnmatch.fnmatch(part, pat[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatch(prefix, pat) for prefix in prefixes)
        if hit:
            ignored = not negate
    return ignored


def _dockerignore() -> list[str]:
    lines = (IMAGES / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_matcher():
    patterns = _dockerignore()
    assert _ignored(".venv/bin/python", patterns)
    assert _ignored("tests/cluster/test_images.py", patterns)
    assert not _ignored("codecs/protocol.py", patterns)
    assert _ignored("codecs/__pycache__/protocol.cpython-311.pyc", patterns)


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_copy_source_is_in_the_context(name):
    patterns = _dockerignore()
    for keyword, rest in instructions(name):
        if keyword != "COPY" or rest.startswith("--from"):
            continue
        sources = shlex.split(rest)[:-1]
        for source in sources:
            assert (REPO / source).exists(), f"{name}: COPY {source}: no such file in the repository"
            assert not _ignored(source, patterns), f"{name}: COPY {source} is excluded by images/.dockerignore"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint(hadolint, name):
    out = subprocess.run([str(hadolint), "--no-color", str(IMAGES / name)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"hadolint {name}:\n{out.stdout}{out.stderr}"


def test_hadolint_is_live(hadolint, tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install -y curl\n")
    out = subprocess.run([str(hadolint), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "DL3007" in out.stdout  # 'latest' is flagged


# --- images/build.sh --------------------------------------------------------------------------


def _build(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("FCBENCH_IMAGE", "VTM_"))}
    full_env.update(env)
    return subprocess.run(["bash", str(IMAGES / "build.sh"), *args], capture_output=True, text=True,
                          timeout=120, env=full_env, cwd=tmp_path)


def test_build_context_is_clean_and_named_like_the_pipelines(tmp_path, monkeypatch):
    ctx = tmp_path / "ctx"
    out = _build(tmp_path, "gpu", "--worktree", "--context-only", str(ctx),
                 FCBENCH_IMAGE_REGISTRY="registry.example/team", FCBENCH_IMAGE_TAG="t1")
    assert out.returncode == 0, out.stderr
    assert (ctx / ".dockerignore").read_text() == (IMAGES / ".dockerignore").read_text()
    assert (ctx / "images/Dockerfile.gpu").is_file() and (ctx / "codecs/protocol.py").is_file()
    assert not (ctx / ".venv").exists() and not (ctx / ".git").exists()
    image = (ctx / ".fcbench-image").read_text().strip()
    build_args = (ctx / ".fcbench-build-args").read_text().splitlines()
    assert f"FCBENCH_VERSION={VERSION}" in build_args
    # The same reference the pipelines compute from the same settings (components/stages/container_images.py).
    from fcbench.components.stages.container_images import image as pipeline_image

    monkeypatch.setenv("FCBENCH_IMAGE_REGISTRY", "registry.example/team")
    monkeypatch.setenv("FCBENCH_IMAGE_TAG", "t1")
    monkeypatch.delenv("FCBENCH_GPU_IMAGE", raising=False)
    assert image == pipeline_image("gpu") == "registry.example/team/fcbench-gpu:t1"


def test_codec_build_requires_the_users_vtm(tmp_path):
    out = _build(tmp_path, "codec", "--worktree", "--context-only", str(tmp_path / "ctx"))
    assert out.returncode != 0 and "needs your VTM build" in out.stderr
    out = _build(tmp_path, "codec", "--worktree", "--context-only", str(tmp_path / "ctx2"), VTM_DIR=str(tmp_path))
    assert out.returncode != 0 and "opt/vtm/bin/EncoderAppStatic" in out.stderr
    out = _build(tmp_path, "codec", "--worktree", "--context-only", str(tmp_path / "ctx3"), VTM_IMAGE="me/vtm:23.13")
    assert out.returncode == 0, out.stderr
    assert "VTM_IMAGE=me/vtm:23.13" in (tmp_path / "ctx3/.fcbench-build-args").read_text().splitlines()
    out = _build(tmp_path, "codec", "--worktree", "--context-only", str(tmp_path / "ctx4"), VTM_IMAGE="me/vtm:23.13",
                 VTM_VERSION="23.13")
    assert out.returncode == 0 and "VTM_VERSION=23.13" in (tmp_path / "ctx4/.fcbench-build-args").read_text().splitlines()


def test_build_refuses_unknown_image(tmp_path):
    out = _build(tmp_path, "tpu")
    assert out.returncode != 0 and "unknown image 'tpu'" in out.stderr


# --- images/check-vtm.sh (runs at build time inside the codec image) -------------------------


def _check_vtm(tmp_path: Path, encoder: str, decoder: str, cfg: str, version: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, FCBENCH_VTM_ENCODER=encoder, FCBENCH_VTM_DECODER=decoder, FCBENCH_VTM_CFG=cfg,
               FCBENCH_VVENC_ENCODER=str(tmp_path / "no-vvenc"), VTM_VERSION=version)
    return subprocess.run(["sh", str(IMAGES / "check-vtm.sh")], capture_output=True, text=True, env=env, timeout=30)


def test_check_vtm_accepts_a_complete_tree(tmp_path):
    cfg = tmp_path / "encoder_intra_vtm.cfg"
    cfg.write_text("IntraPeriod : 1\n")
    # Real executables stand where the VTM ones go: the script checks presence and linkage.
    out = _check_vtm(tmp_path, "/bin/ls", "/bin/cat", str(cfg))
    assert out.returncode == 0, out.stderr
    assert "no VVenC" in out.stdout


def test_check_vtm_checks_the_stated_version(tmp_path):
    """#20 item 5: the image states its VTM version and the build checks it against the banner."""
    cfg = tmp_path / "encoder_intra_vtm.cfg"
    cfg.write_text("IntraPeriod : 1\n")
    encoder = tmp_path / "EncoderAppStatic"
    encoder.write_text("#!/bin/sh\necho 'VVCSoftware: VTM Encoder Version 23.13 [Linux][GCC 12.2.0][64 bit]'\n")
    encoder.chmod(0o755)
    ok = _check_vtm(tmp_path, str(encoder), "/bin/cat", str(cfg), version="23.13")
    assert ok.returncode == 0 and "VTM 23.13 found" in ok.stdout, ok.stderr
    wrong = _check_vtm(tmp_path, str(encoder), "/bin/cat", str(cfg), version="23.3")
    assert wrong.returncode == 1 and "VTM_VERSION is 23.3 but" in wrong.stderr and "version 23.13" in wrong.stderr
    mute = _check_vtm(tmp_path, "/bin/true", "/bin/cat", str(cfg), version="23.3")
    assert mute.returncode == 1 and "unknown (no 'VTM Encoder Version' in its --help)" in mute.stderr
    dockerfile = (IMAGES / "Dockerfile.codec").read_text()
    assert "ARG VTM_VERSION=23.3" in dockerfile and 'org.fcbench.vtm-version="${VTM_VERSION}"' in dockerfile


def test_check_vtm_names_what_is_missing(tmp_path):
    out = _check_vtm(tmp_path, str(tmp_path / "EncoderAppStatic"), "/bin/cat", str(tmp_path / "missing.cfg"))
    assert out.returncode == 1
    assert "EncoderAppStatic is missing" in out.stderr and "missing.cfg is missing" in out.stderr


# --- images/mlflow-requirements.txt ----------------------------------------------------------


def test_mlflow_image_pins_match_the_project():
    pins = dict(line.split("==") for line in (IMAGES / "mlflow-requirements.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"mlflow=={pins['mlflow']}" in project  # server and clients speak the same version
    assert pins["boto3"] == pins["botocore"] and "psycopg2-binary" in pins


def _locked(text: str) -> dict[str, tuple[str, list[str]]]:
    """{package: (version, sha256 hashes)} of a pip-compile --generate-hashes lock."""
    import re

    out = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = block.split(maxsplit=1)[0] if block.strip() and not block.startswith("#") else ""
        if head:
            name, _, version = head.partition("==")
            out[name.lower()] = (version, re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return out


def _pins(lines: list[str]) -> dict[str, str]:
    return {name.lower(): version for name, _, version in
            (line.split("#")[0].strip().partition("==") for line in lines) if version}


LOCKS = {"mlflow": IMAGES / "mlflow-requirements.lock", "gpu": REPO / "requirements" / "image-gpu.lock",
         "cpu": REPO / "requirements" / "image-cpu.lock"}
def _cuda_only(name: str) -> bool:
    """torch, torchvision and what only PyPI's CUDA build of torch needs (images/lock.sh's rule)."""
    return name in ("torch", "torchvision", "triton") or name.startswith(("nvidia-", "cuda-"))


@pytest.mark.parametrize("which", sorted(LOCKS))
def test_every_image_lock_pins_every_package_with_hashes(which):
    """Every package an image installs, dependencies included, is pinned with the sha256 of its
    files, from PyPI alone (no index or local folder of the machine that made it)."""
    text = LOCKS[which].read_text()
    lock = _locked(text)
    assert len(lock) > 50  # the dependencies too, not only the direct pins
    unpinned = [name for name, (version, hashes) in lock.items() if not version or not hashes]
    assert unpinned == [], f"not pinned with hashes: {unpinned}"
    assert "--index-url" not in text and "--find-links" not in text
    assert text.startswith("# Generated by images/lock.sh")


def test_the_locks_agree_with_the_pins():
    """Rerun images/lock.sh after changing a pin: the locks hold every pin at its version; the
    CPU lock is the GPU one without torch and what only its CUDA build needs."""
    mlflow = _pins((IMAGES / "mlflow-requirements.txt").read_text().splitlines())
    assert {n: _locked(LOCKS["mlflow"].read_text())[n][0] for n in mlflow} == mlflow
    project = _pins(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
    torch = _pins((REPO / "requirements" / "torch.txt").read_text().splitlines())
    assert {n: project[n] for n in torch} == torch
    gpu, cpu = _locked(LOCKS["gpu"].read_text()), _locked(LOCKS["cpu"].read_text())
    assert {n: gpu[n][0] for n in project} == project
    assert cpu == {n: v for n, v in gpu.items() if not _cuda_only(n)}
    assert {n: cpu[n][0] for n in project if n not in torch} == {n: v for n, v in project.items() if n not in torch}


def test_the_images_install_their_lock_with_hashes_required():
    script = (IMAGES / "install-fcbench.sh").read_text()
    assert 'pip install --no-cache-dir --require-hashes --no-deps -r "$lock"' in script
    assert "pip install --no-cache-dir --no-deps /tmp/fcbench" in script and "pip check" in script
    # torch from its index only when the lock leaves it out (the CPU image)
    assert "if ! grep -q '^torch==' \"$lock\"; then" in script
    for dockerfile, lock in (("Dockerfile.codec", "image-cpu.lock"), ("Dockerfile.gpu", "image-gpu.lock")):
        steps = instructions(dockerfile)
        assert ("COPY", f"requirements/torch.txt requirements/{lock} /tmp/fcbench/requirements/") in steps
        assert any(k == "RUN" and r.endswith(f'"${{FCBENCH_VERSION}}" /tmp/fcbench/requirements/{lock}')
                   for k, r in steps), dockerfile
    mlflow = (IMAGES / "Dockerfile.mlflow").read_text()
    assert "--require-hashes --no-deps -r /tmp/mlflow-requirements.lock" in mlflow
    ignore = (IMAGES / ".dockerignore").read_text()
    assert "!images/mlflow-requirements.lock" in ignore and "!requirements/" in ignore


def test_no_image_claims_every_gpu_of_the_node():
    """NVIDIA_VISIBLE_DEVICES=all in an image would let a container see every GPU of its node
    (outside the device plugin's allocation): the plugin sets it per container."""
    for dockerfile in IMAGES.glob("Dockerfile.*"):
        assert "NVIDIA_VISIBLE_DEVICES" not in dockerfile.read_text(), dockerfile.name
