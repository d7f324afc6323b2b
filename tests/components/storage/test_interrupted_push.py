"""A push killed midway leaves an incomplete multipart upload (or, locally, a temp file) stored:
the next push of that folder removes it (issue #12 item 12). The kill itself is exercised by
`benchmarks/fault_injection.py --case upload-kill9`; here the server state a kill leaves is made
directly."""
from __future__ import annotations

import numpy as np

from fcbench.components.storage import open_storage

MiB = 1 << 20


def leave_interrupted_upload(storage, key: str) -> str:
    """What a push killed after its first part leaves: an open multipart upload with one part."""
    client, name = storage._client, storage.prefix + key
    upload_id = client._create_multipart_upload(storage.bucket, name, {})
    client._upload_part(storage.bucket, name, np.random.default_rng(0).bytes(5 * MiB), None, upload_id, 1)
    return upload_id


def open_uploads(storage) -> list[str]:
    """Every incomplete multipart upload in the bucket (the bucket root's view)."""
    return open_storage(f"s3://{storage.bucket}", storage.config).incomplete_uploads()


def test_the_next_push_aborts_the_upload_a_killed_push_left(s3_config, bucket, tmp_path, featureset):
    folder = open_storage(f"s3://{bucket}/sets/a", s3_config)
    other = open_storage(f"s3://{bucket}/sets/ab", s3_config)  # shares the string prefix, not the folder
    leave_interrupted_upload(folder, "s000.npy")
    leave_interrupted_upload(folder, "removed/since.npy")
    leave_interrupted_upload(other, "x.npy")
    assert open_uploads(folder) == ["sets/a/removed/since.npy", "sets/a/s000.npy", "sets/ab/x.npy"]
    report = folder.push_dir(featureset.root)
    assert report.cleaned == 2 and "2 interrupted upload(s) cleaned up" in str(report)
    assert open_uploads(folder) == ["sets/ab/x.npy"]  # another folder's upload is not ours
    assert folder.incomplete_uploads() == [] and other.incomplete_uploads() == ["x.npy"]
    assert folder.verify_featureset() == []
    assert folder.push_dir(featureset.root).cleaned == 0


def test_local_push_removes_temp_files_of_a_killed_write(tmp_path, featureset):
    dest = tmp_path / "dest"
    (dest / "sub").mkdir(parents=True)
    (dest / ".s000.npy.k3j2.tmp").write_bytes(b"half")
    (dest / "sub" / ".x.bin.abcd.tmp").write_bytes(b"half")
    (dest / ".s001.npy.0123456789abcdef.part").write_bytes(b"resumable download")
    report = open_storage(str(dest)).push_dir(featureset.root)
    assert report.cleaned == 2
    assert sorted(p.name for p in dest.rglob(".*")) == [".fcbench-index.json", ".s001.npy.0123456789abcdef.part"]
