"""The one rule for names that become path components: sample ids, storage key segments.

Sample ids come from manifests, sample lists and released files, that is from anyone: an id
like `../x` or `/etc/x` would make fcbench read or write outside the folder it was given.
Every place that turns an untrusted name into a file or key name checks it here, so there is
one rule: ASCII letters, digits and `._=+-`, not starting with `.` (hidden files are skipped by
pushes and look like fcbench's temp files) or `-` (read as an option by codec tools), at most
200 characters (a file system's 255 with room for suffixes and temp-file names).
"""
from __future__ import annotations

import re
from typing import Any, Type

MAX_LENGTH = 200
_SAFE = re.compile(r"[A-Za-z0-9_=+][A-Za-z0-9._=+-]*")
RULE = f"letters, digits and ._=+- only, not starting with '.' or '-', at most {MAX_LENGTH} characters"


class UnsafeNameError(ValueError):
    """A name that cannot be used as a file name or storage key segment."""


def is_safe_name(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_LENGTH and _SAFE.fullmatch(value) is not None


def check_name(value: Any, what: str, error: Type[Exception] = UnsafeNameError) -> str:
    """`value` when it is a safe path component; else `error` naming `what` and the rule."""
    if not is_safe_name(value):
        raise error(f"{what} {value!r} is not a safe file name ({RULE})")
    return value


def check_relative_path(value: Any, what: str, error: Type[Exception] = UnsafeNameError) -> str:
    """A relative `a/b/c.ext` path whose every part is a safe name (no `..`, no absolute path):
    for paths inside a data folder that a list file names."""
    if not isinstance(value, str) or not value or value.startswith("/") or "\\" in value:
        raise error(f"{what} {value!r} is not a relative path inside the data folder")
    for part in value.split("/"):
        if not is_safe_name(part):
            raise error(f"{what} {value!r} is not a relative path inside the data folder "
                        f"(part {part!r}: {RULE})")
    return value
