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
    ("2.15.0", True, "ok"), ("2.16.1", True, "ok"), ("v3.0.0-rc.1", True, "ok"), ("2.14.0", True, "rewritten"),
    ("2.13.0", True, "fit_klt and train_hyperprior run"), ("2.5.0", True, "the benchmark pipelines need 2.14"),
    ("2.2.0", False, "too old"), ("1.8.5", False, "too old"), ("", False, "unknown"), ("dev", False, "unknown"),
])
def test_backend_version_verdict(tag, ok, says):
    """dsl.Collected of artifacts needs 2.14, the scratch volumes 2.4; fields kfp-kubernetes 2.17
    writes and older backends lack are left out for them (test_kfp_backends.py)."""
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


@pytest.fixture
def healthz_server():
    """A loopback server answering the version probe as the API server (at /apis/...) and as the
    UI server in front of it (at /pipeline/apis/..., what a Kubeflow install serves)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answers = {"/apis/v1beta1/healthz": {"commit_sha": "abc", "tag_name": "2.16.0", "multi_user": False},
               "/pipeline/apis/v1beta1/healthz": {"apiServerCommitHash": "abc", "apiServerTagName": "2.16.0",
                                                  "apiServerMultiUser": True, "frontendTagName": "2.16.0"},
               "/old/apis/v1beta1/healthz": {"tag_name": "2.2.0", "multi_user": True}}
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            body = json.dumps(answers.get(self.path, {})).encode()
            self.send_response(200 if self.path in answers else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_doctor_understands_the_api_server_and_the_ui_server(healthz_server, capsys):
    import json

    url, seen = healthz_server
    for path, by, multi in (("", "KFP API server", False), ("/pipeline", "KFP UI server", True)):
        assert main(["doctor", "--kfp-host", url + path, "--token", "t", "--json"]) == 0
        backend = json.loads(capsys.readouterr().out)["kubeflow_pipelines"]
        assert backend["version"] == "2.16.0" and backend["answered_by"] == by and backend["multi_user"] is multi
    assert all(auth == "Bearer t" for _, auth in seen)
    assert main(["doctor", "--kfp-host", url + "/old", "--json"]) == 1  # 2.2: too old for any fcbench pipeline
    assert main(["doctor", "--kfp-host", url + "/old", "--json", "--skip-version-check"]) == 0
    assert "--skip-version-check: not failing" in capsys.readouterr().out


def _compile_for_upload(tmp_path, argv):
    import argparse

    from fcbench.pipelines.cli import build_parser
    from fcbench.pipelines.commands.kfp import collect_arguments
    from fcbench.pipelines.commands.kubeflow import _compiled

    args = build_parser().parse_args(["upload", *argv, "--name", "n", "--host", "http://x"])
    assert isinstance(args, argparse.Namespace)
    return _compiled(args, collect_arguments(args), tmp_path, exact=True)


def test_upload_keeps_the_named_pipeline_and_its_parameters(tmp_path):
    """#20 item 3: `upload benchmark` uploaded benchmark-traditional (the hyperprior branch lost)
    and took no pipeline parameters."""
    import yaml

    key, path = _compile_for_upload(tmp_path, ["benchmark", "--model", "llama3", "--task", "csr", "--qp", "27",
                                               "--preset", "paper", "--codec", "x265"])
    ir = next(yaml.safe_load_all(path.read_text()))
    assert key == "benchmark" and "comp-hyperprior-infer" in ir["components"]
    params = ir["root"]["inputDefinitions"]["parameters"]
    assert params["model"]["defaultValue"] == "llama3" and params["qps"]["defaultValue"] == [27]
    assert params["preset"]["defaultValue"] == "paper"


def test_no_cache_reaches_every_task_at_every_depth(tmp_path):
    import yaml

    _, path = _compile_for_upload(tmp_path, ["full", "--no-cache"])
    ir = next(yaml.safe_load_all(path.read_text()))
    tasks = []

    def walk(node):
        if isinstance(node, dict):
            if "taskInfo" in node and "componentRef" in node:
                tasks.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(ir)
    nested = [t for t in tasks if t["taskInfo"]["name"].startswith(("code-traditional", "hyperprior-train"))]
    assert nested and all(t.get("cachingOptions") == {"enableCache": False} for t in tasks)
    (tmp_path / "c").mkdir()
    _, cached = _compile_for_upload(tmp_path / "c", ["full"])
    plain = next(yaml.safe_load_all(cached.read_text()))
    never = [t for t in plain["root"]["dag"]["tasks"].values() if t["taskInfo"]["name"] in ("open-tracking",)]
    assert never and never[0]["cachingOptions"] == {}  # never-cache tasks compile with caching off (empty options)


def test_no_cache_cannot_reach_an_uploaded_version(dead_host, capsys):
    assert main(["submit", "benchmark", "--host", dead_host, "--from-upload", "fcb", "--no-cache"]) == 1
    assert "upload a version with `fcbench upload ... --no-cache`" in capsys.readouterr().err


def test_a_request_above_its_limit_is_refused(dead_host, capsys):
    assert main(["submit", "benchmark", "--host", dead_host, "--deploy", "evaluate.cpu_request=16"]) == 1
    assert "cpu_request 16 exceeds cpu_limit 8" in capsys.readouterr().err
