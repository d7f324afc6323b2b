"""resolve_codecs: codec identities resolved where the codecs run, pins checked, bad entries named;
`fcbench codec identity` prints the same identity."""
import json

import pytest

from fcbench.codecs import get_codec
from fcbench.components.codec_identity import identity_hash, parse_codec_entry
from fcbench.components.stages.context import StageError
from fcbench.components.stages.resolve_codecs import identity_table, resolve_codec_list
from fcbench.pipelines.cli import main


def test_names_are_resolved_to_the_identity_built_here():
    resolved = resolve_codec_list(["x265", 'x265:{"preset": "fast"}', {"codec": "bypass"}])
    assert [r["codec"] for r in resolved] == ["x265", "x265", "bypass"]
    assert resolved[0]["identity_hash"] == identity_hash(get_codec("x265").identity)
    assert resolved[1]["options"] == {"preset": "fast"}
    assert resolved[1]["identity_hash"] == identity_hash(get_codec("x265", preset="fast").identity)
    assert resolved[0]["identity_hash"] != resolved[1]["identity_hash"]
    table = identity_table(resolved)
    assert resolved[0]["identity"]["binary_sha256"] in table


def test_a_pinned_identity_must_match():
    actual = identity_hash(get_codec("x265").identity)
    assert resolve_codec_list([{"codec": "x265", "identity_hash": actual}])[0]["identity_hash"] == actual
    with pytest.raises(StageError, match="pinned 0000"):
        resolve_codec_list([{"codec": "x265", "identity_hash": "0" * 64}])


def test_a_codec_missing_from_the_image_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("FCBENCH_VTM_ENCODER", str(tmp_path / "none" / "EncoderAppStatic"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StageError, match=r"stage resolve_codecs .*codec 'vtm' .*not usable here"):
        resolve_codec_list(["x265", "vtm"])


@pytest.mark.parametrize("entry, message", [
    ("x265:{bad", "not JSON"), ({"codec": ""}, "expected"), ({"codec": "x265", "colour": 1}, "unknown key"),
    ({"codec": "x265", "options": [1]}, "JSON object"), (3, "expected")])
def test_bad_entries(entry, message):
    with pytest.raises(ValueError, match=message):
        parse_codec_entry(entry)


def test_empty_codecs_are_refused():
    with pytest.raises(StageError, match="codecs parameter is empty"):
        resolve_codec_list([])


def test_codec_identity_command(capsys):
    assert main(["codec", "identity", "x265", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["identity_hash"] == identity_hash(get_codec("x265").identity)
    assert main(["codec", "identity", "nope"]) == 1
    assert "codec 'nope'" in capsys.readouterr().err
