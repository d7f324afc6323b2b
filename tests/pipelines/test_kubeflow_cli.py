"""`fcbench submit`, `fcbench upload` and `fcbench doctor --kfp-host`: argument handling, the kfp
SDK's credential options and errors. No Kubeflow is reachable from the tests (none is faked):
what needs a backend is checked up to the point of connecting."""
import socket

import pytest

from fcbench.pipelines.cli import main
from fcbench.pipelines.kfp_backend import Credentials, backend_info, parse_version, version_verdict


@pytest.fixture
def dead_host():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_credentials_map_to_the_kfp_client_options(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("abc\n")
    assert Credentials(token="t").client_kwargs() == {"existing_token": "t"}
    assert Credentials(token="t").headers() == {"Authorization": "Bearer t"}
    from_file = Credentials(token_file=str(token_file))
    assert type(from_file.client_kwargs()["credentials"]).__name__ == "ServiceAccountTokenVolumeCredentials"
    assert from_file.headers() == {"Authorization": "Bearer abc"}
    assert Credentials(cookie="authservice_session=xyz").client_kwargs() == {"cookies": "authservice_session=xyz"}
    assert Credentials(cookie="authservice_session=xyz").headers() == {"Cookie": "authservice_session=xyz"}
    assert Credentials().client_kwargs() == {} and Credentials().headers() == {}


@pytest.mark.parametrize("kwargs, message", [
    ({"token": "a", "cookie": "s=1"}, "give one of --token, --token-file and --cookie"),
    ({"token_file": "/nonexistent/token"}, "--token-file /nonexistent/token does not exist"),
    ({"cookie": "just-a-value"}, "NAME=VALUE"),
    ({"ca_cert": "/nonexistent/ca.pem"}, "--ca-cert /nonexistent/ca.pem does not exist"),
])
def test_bad_credentials_are_named(kwargs, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        Credentials(**kwargs)


@pytest.mark.parametrize("tag, ok, says", [
    ("2.14.0", True, "ok"), ("2.15.1", True, "ok"), ("v3.0.0-rc.1", True, "ok"),
    ("2.5.0", False, "too old"), ("1.8.5", False, "too old"), ("", False, "unknown"), ("dev", False, "unknown"),
])
def test_backend_version_verdict(tag, ok, says):
    verdict = version_verdict(tag)
    assert verdict[0] is ok and says in verdict[1] and "2.14" in verdict[1]


def test_parse_version():
    assert parse_version("2.14") == (2, 14, 0) and parse_version("v2.4.1") == (2, 4, 1) and parse_version("x") is None


def test_backend_info_names_an_unreachable_host(dead_host):
    with pytest.raises(RuntimeError, match=f"{dead_host} is unreachable"):
        backend_info(dead_host, Credentials(), timeout=2)


def test_doctor_reports_an_unreachable_backend_and_exits_1(dead_host, capsys):
    assert main(["doctor", "--kfp-host", dead_host, "--json"]) == 1
    out = capsys.readouterr().out
    assert '"kubeflow_pipelines"' in out and "unreachable" in out


@pytest.mark.parametrize("argv, message", [
    (["submit", "benchmark", "--host", "HOST", "--token", "t", "--cookie", "a=b"], "not allowed with argument"),
    (["upload", "benchmark", "--host", "HOST"], "--name"),
    (["submit", "benchmark"], "--host"),
])
def test_argument_errors(argv, message, dead_host, capsys):
    with pytest.raises(SystemExit):
        main([a.replace("HOST", dead_host) for a in argv])
    assert message in capsys.readouterr().err


def test_private_upload_needs_a_namespace(dead_host, capsys):
    assert main(["upload", "benchmark", "--name", "fcb", "--private", "--host", dead_host]) == 1
    assert "--private needs --namespace" in capsys.readouterr().err


def test_version_needs_an_uploaded_pipeline(dead_host, capsys):
    assert main(["submit", "benchmark", "--host", dead_host, "--version", "v1"]) == 1
    assert "--version needs --from-upload" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["submit", "benchmark", "--qp", "22"], ["upload", "benchmark", "--name", "fcb"]])
def test_unreachable_host_is_named_before_anything_is_sent(command, dead_host, tmp_path, capsys):
    token = tmp_path / "token"
    token.write_text("abc")
    assert main([*command, "--host", dead_host, "--token-file", str(token), "--namespace", "team-a"]) == 1
    err = capsys.readouterr().err
    assert dead_host in err and "unreachable" in err and len(err.strip().splitlines()) == 1


def test_submit_refuses_a_bad_deploy_override_before_connecting(dead_host, capsys):
    assert main(["submit", "benchmark", "--host", dead_host, "--deploy", "evaluate.memory_limit=much"]) == 1
    assert "not a Kubernetes quantity" in capsys.readouterr().err
