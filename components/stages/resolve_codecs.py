"""KFP component `resolve_codecs`: the codec identities of the image the coding tasks run in.

The `codecs` pipeline parameter names codecs (and options) only; nothing about the machine that
compiled the pipeline is baked into the IR. This task runs in the codec image, builds every
codec there and outputs `[{codec, options, identity_hash}]`, which feeds `prepare_coding` and,
through its grid, every coding task. So the in-image identity (version, binary and cfg sha256,
options) is a task input of everything downstream: KFP's cache key. The task itself is never
cached (pipelines/steps.py): a rebuilt image under the same tag is resolved again, and a changed
identity changes every downstream key instead of reusing a result of the old build.

An entry may pin an identity (`identity_hash`): the run then fails here, before any coding, if
the image's build differs.
"""
from typing import Any

from kfp.dsl import Markdown, Output

from fcbench.components.stages import container_images


def resolve_codec_list(entries: list) -> list[dict]:
    """Plain-function body: every entry resolved in this environment (see module doc): the
    entry (with its chain and rate points, if any) plus `identity` and `identity_hash`."""
    from fcbench.components.codec_identity import parse_codec_entry, resolve_identity
    from fcbench.components.stages.context import stage_context
    from fcbench.components.stages.params import restore_codec_options

    with stage_context("resolve_codecs", codecs=len(entries or [])):
        if not entries:
            raise ValueError("the codecs parameter is empty: name at least one codec, e.g. [\"x265\"]")
        resolved = []
        for entry in entries:
            spec = parse_codec_entry(entry)
            spec["options"] = restore_codec_options(spec["codec"], spec["options"])  # KFP made ints floats
            found = resolve_identity(spec["codec"], spec["options"], spec.get("identity_hash", ""))
            resolved.append({**spec, **found})
        return resolved


def identity_table(resolved: list[dict]) -> str:
    """Markdown table of the resolved identities (the task's UI output)."""
    rows = ["| codec | version | binary sha256 | cfg sha256 | options | identity hash |", "|---|---|---|---|---|---|"]
    for r in resolved:
        ident: dict[str, Any] = r["identity"]
        rows.append(f"| {r['codec']} | {ident.get('version')} | {ident.get('binary_sha256') or '-'} | "
                    f"{ident.get('cfg_sha256') or '-'} | `{r['options']}` | `{r['identity_hash']}` |")
    return "\n".join(rows) + "\n"


@container_images.component("codec")
def resolve_codecs(codecs: list, identities: Output[Markdown]) -> list:
    """Resolve each codec's identity in this image: [{codec, options, identity_hash}]."""
    from fcbench.codecs.common import atomic
    from fcbench.components.stages.resolve_codecs import identity_table, resolve_codec_list

    resolved = resolve_codec_list(codecs)
    atomic.write_bytes(identities.path, identity_table(resolved).encode())
    return [{k: v for k, v in r.items() if k != "identity"} for r in resolved]
