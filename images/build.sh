#!/usr/bin/env bash
# Build (and optionally push) one fcbench image from a clean context: the tracked files of one
# commit (default HEAD), so the image holds exactly what its revision label says.
#
#   images/build.sh codec|gpu|mlflow [--push] [--ref REF | --worktree] [--context-only DIR]
#
# Environment: FCBENCH_IMAGE_REGISTRY (default ghcr.io/fcbench, as components/stages/container_images.py),
# FCBENCH_IMAGE_TAG (default: the fcbench version in pyproject.toml at that commit).
# codec only: VTM_IMAGE=<image with /opt/vtm>  or  VTM_DIR=<folder holding opt/vtm/...>, and
# VTM_VERSION=<its version> (checked against the encoder's banner; default 23.3, the reference's).
# --worktree  use the working tree's tracked and untracked-but-not-ignored files instead.
# --context-only DIR  write the context to DIR and stop (for other builders: kaniko, buildah).
set -euo pipefail

usage() { sed -n '2,12p' "$0" >&2; exit 2; }
die() { echo "images/build.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] || usage
family="$1"; shift
case "$family" in codec|gpu|mlflow) ;; *) die "unknown image '$family' (codec, gpu or mlflow)";; esac

push=0; ref=HEAD; worktree=0; context_only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --push) push=1 ;;
        --ref) ref="${2:?--ref needs a commit}"; shift ;;
        --worktree) worktree=1 ;;
        --context-only) context_only="${2:?--context-only needs a folder}"; shift ;;
        *) usage ;;
    esac
    shift
done

repo="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" || die "not inside the fcbench git checkout"
cd "$repo"

if [ -n "$context_only" ]; then
    mkdir -p "$context_only"
    [ -z "$(ls -A "$context_only")" ] || die "--context-only folder $context_only is not empty"
    ctx="$context_only"
else
    ctx="$(mktemp -d)"
    trap 'rm -rf "$ctx"' EXIT
fi

if [ "$worktree" -eq 1 ]; then
    git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
        [ -e "$f" ] && printf '%s\0' "$f"   # skip tracked files deleted in the work tree
    done | tar --null -T - -cf - | tar -xf - -C "$ctx"
    sha="$(git rev-parse HEAD)"
    [ -z "$(git status --porcelain)" ] || sha="${sha}-dirty"
else
    git rev-parse --verify --quiet "${ref}^{commit}" >/dev/null || die "no commit '$ref'"
    [ "$ref" != HEAD ] || [ -z "$(git status --porcelain --untracked-files=no)" ] ||
        echo "images/build.sh: note: uncommitted changes are NOT in the image (use --worktree)" >&2
    git archive --format=tar "$ref" | tar -xf - -C "$ctx"
    sha="$(git rev-parse "${ref}^{commit}")"
fi
cp images/.dockerignore "$ctx/.dockerignore"

version="$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$ctx/pyproject.toml")"
registry="${FCBENCH_IMAGE_REGISTRY:-ghcr.io/fcbench}"
registry="${registry%/}"
tag="${FCBENCH_IMAGE_TAG:-$version}"
image="$registry/fcbench-$family:$tag"

args=(--file "$ctx/images/Dockerfile.$family" --tag "$image"
      --build-arg "FCBENCH_VERSION=$version" --build-arg "FCBENCH_GIT_SHA=$sha")
if [ "$family" = codec ]; then
    if [ -n "${VTM_DIR:-}" ]; then
        [ -x "$VTM_DIR/opt/vtm/bin/EncoderAppStatic" ] ||
            die "VTM_DIR=$VTM_DIR has no executable opt/vtm/bin/EncoderAppStatic"
        args+=(--build-context "vtm=$VTM_DIR")
    elif [ -n "${VTM_IMAGE:-}" ]; then
        args+=(--build-arg "VTM_IMAGE=$VTM_IMAGE")
    else
        die "the codec image needs your VTM build: set VTM_IMAGE (an image with /opt/vtm) or VTM_DIR (a folder with opt/vtm/...)"
    fi
    # the version of that build, checked against its encoder's banner (default in the Dockerfile: 23.3)
    if [ -n "${VTM_VERSION:-}" ]; then
        args+=(--build-arg "VTM_VERSION=$VTM_VERSION")
    fi
fi

if [ -n "$context_only" ]; then
    printf '%s\n' "$image" > "$ctx/.fcbench-image"
    printf '%s\n' "${args[@]}" > "$ctx/.fcbench-build-args"
    echo "context for $image written to $ctx"
    exit 0
fi

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "no Docker engine is reachable (docker info failed)"
if [ "$push" -eq 1 ]; then args+=(--push); else args+=(--load); fi
docker buildx build "${args[@]}" "$ctx"
echo "built $image (fcbench $version, $sha)"
