"""Atomic writes (fcbench.codecs.common.atomic): what a failing write says and leaves."""
from __future__ import annotations

import pytest


def test_a_full_disk_is_named_with_the_path(tmp_path):
    """#24: disk-full errors name the file being written (the OS error alone names nothing)."""
    import errno

    from fcbench.codecs.common import atomic

    target = tmp_path / "big.bin"
    with pytest.raises(OSError) as caught:
        with atomic.open_write(target):
            raise OSError(errno.ENOSPC, "No space left on device")  # what a write into a full disk raises
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert not target.exists() and not list(tmp_path.glob(".*.tmp"))
