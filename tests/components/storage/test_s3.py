"""S3Storage against a real S3-compatible server on loopback (moto, with IAM checks on)."""
from __future__ import annotations

import hashlib
import io
import time
from dataclasses import replace

import pytest

from fcbench.components.storage import (
    StorageAuthError,
    StorageConfig,
    StorageError,
    StorageIntegrityError,
    StorageNotFound,
    StorageUnreachable,
    open_storage,
)
from fcbench.components.storage.s3 import S3Storage


def test_put_get_ls_delete_roundtrip(s3_config, bucket):
    st = open_storage(f"s3://{bucket}/runs/a", s3_config)
    assert isinstance(st, S3Storage)
    st.put_bytes("x/one.bin", b"hello")
    st.put_bytes("x/two.bin", b"world!")
    st.put_bytes("y.bin", b"")
    assert st.get_bytes("x/one.bin") == b"hello"
    assert st.get_bytes("y.bin") == b""
    assert st.ls() == ["x/one.bin", "x/two.bin", "y.bin"]
    assert st.ls("x/") == ["x/one.bin", "x/two.bin"]
    assert st.exists("x/two.bin") and not st.exists("x/three.bin")
    info = st.stat("x/two.bin")
    assert info.size == 6 and info.sha256 == hashlib.sha256(b"world!").hexdigest()
    assert st.url("x/one.bin") == f"s3://{bucket}/runs/a/x/one.bin"
    # The prefix is real: the object lives under runs/a/ in the bucket.
    assert open_storage(f"s3://{bucket}", s3_config).ls() == ["runs/a/x/one.bin", "runs/a/x/two.bin", "runs/a/y.bin"]
    st.delete("x/one.bin")
    st.delete("x/one.bin")  # absent: not an error
    assert st.ls("x/") == ["x/two.bin"]


def test_put_file_get_file(s3_config, bucket, tmp_path):
    src = tmp_path / "in.bin"
    src.write_bytes(b"abc" * 1000)
    st = open_storage(f"s3://{bucket}", s3_config)
    st.put_file("f/in.bin", src)
    out = st.get_file("f/in.bin", tmp_path / "out" / "copy.bin")
    assert out.read_bytes() == src.read_bytes()
    assert [p.name for p in out.parent.iterdir()] == ["copy.bin"]  # no temp/part files left


def test_missing_key_names_object_and_endpoint(s3_config, bucket):
    st = open_storage(f"s3://{bucket}/p", s3_config)
    with pytest.raises(StorageNotFound, match=rf"s3://{bucket}/p/nope.bin on {s3_config.endpoint}.*no such object"):
        st.get_bytes("nope.bin")


def test_missing_bucket_is_named(s3_config):
    st = open_storage("s3://no-such-bucket-here/x", s3_config)
    with pytest.raises(StorageNotFound, match=r"bucket 'no-such-bucket-here' does not exist"):
        st.get_bytes("a.bin")
    with pytest.raises(StorageNotFound, match=r"bucket 'no-such-bucket-here' does not exist"):
        st.put_bytes("a.bin", b"1")
    with pytest.raises(StorageNotFound, match="no-such-bucket-here"):
        st.ls()


@pytest.mark.parametrize("which", ["secret", "access"])
def test_wrong_credentials(s3_config, bucket, which):
    bad = replace(s3_config, secret_key="not-the-secret") if which == "secret" else replace(s3_config, access_key="AKIAUNKNOWN000000000")
    st = open_storage(f"s3://{bucket}", bad)
    with pytest.raises(StorageAuthError) as err:
        st.put_bytes("a.bin", b"1")
    msg = str(err.value)
    assert s3_config.endpoint in msg and bucket in msg and "FCBENCH_S3_ACCESS_KEY" in msg
    assert "not-the-secret" not in msg  # never echo a secret
    with pytest.raises(StorageAuthError):
        st.ls()
    assert open_storage(f"s3://{bucket}", s3_config).ls() == []  # nothing was written


def test_server_down_fails_fast_naming_endpoint(closed_port):
    port = closed_port
    cfg = StorageConfig(endpoint=f"127.0.0.1:{port}", access_key="a", secret_key="b", region="us-east-1")
    st = open_storage("s3://somebucket/x", cfg)
    t0 = time.monotonic()
    with pytest.raises(StorageUnreachable, match=rf"cannot reach the S3 endpoint http://127.0.0.1:{port}") as err:
        st.get_bytes("a.bin")
    assert time.monotonic() - t0 < 10, "an unreachable endpoint must fail fast"
    assert "somebucket" in str(err.value)
    with pytest.raises(StorageUnreachable, match=str(port)):
        st.put_bytes("a.bin", b"1")


def test_unreachable_without_region_lookup_also_named(closed_port):
    # Without a region minio first asks the server for the bucket's location: same clear error.
    cfg = StorageConfig(endpoint=f"http://127.0.0.1:{closed_port}", access_key="a", secret_key="b")
    with pytest.raises(StorageUnreachable, match="cannot reach the S3 endpoint http://127.0.0.1:"):
        open_storage("s3://somebucket", cfg).ls()


def test_tampered_object_is_detected(s3_config, bucket, tmp_path):
    st = open_storage(f"s3://{bucket}", s3_config)
    st.put_bytes("a.bin", b"original")
    # Someone rewrites the object behind our back, keeping the old sha256 metadata.
    sha = st.stat("a.bin").sha256
    st._client.put_object(bucket, "a.bin", io.BytesIO(b"tampered"), 8, metadata={"sha256": sha})
    with pytest.raises(StorageIntegrityError, match=rf"s3://{bucket}/a.bin: sha256 .* does not match"):
        st.get_bytes("a.bin")
    with pytest.raises(StorageIntegrityError):
        st.get_file("a.bin", tmp_path / "a.bin")
    assert not (tmp_path / "a.bin").exists()
    assert list(tmp_path.iterdir()) == []  # the bad partial is not kept for resuming
    with pytest.raises(StorageIntegrityError):
        st.get_file("a.bin", tmp_path / "b.bin", sha256=hashlib.sha256(b"else").hexdigest())


def test_bad_uris_and_config():
    with pytest.raises(StorageError, match="FCBENCH_S3_ENDPOINT"):
        open_storage("s3://bucket/x", StorageConfig())
    with pytest.raises(StorageError, match="invalid bucket name"):
        open_storage("s3://B_/x", StorageConfig(endpoint="127.0.0.1:9"))
    with pytest.raises(StorageError, match="unsupported storage scheme 'gs'"):
        open_storage("gs://bucket/x")
    with pytest.raises(StorageError, match="no path"):
        StorageConfig(endpoint="http://h:9000/minio").resolve_endpoint()
    st = open_storage("s3://bucket/x", StorageConfig(endpoint="127.0.0.1:9"))
    with pytest.raises(ValueError, match="invalid storage key"):
        st.put_bytes("../escape", b"")
