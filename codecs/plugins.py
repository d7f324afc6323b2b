"""Codec plug-ins: codecs that installed packages declare in the `fcbench.codecs` entry-point group.

A package makes its codec available to `get_codec`, `fcbench codec list`, sweeps, reports and
the pipelines by declaring, in its pyproject.toml,

    [project.entry-points."fcbench.codecs"]
    zlib = "fcbench_zlib.codec:ZlibCodec"

where the class implements the codec protocol (subclasses fcbench.codecs.Codec). The entry
point's name is the codec's name. Plug-ins are imported only when asked for (by name, or all of
them for a listing). One that fails to import, is not a Codec, or takes a built-in name is
recorded with the reason and raises CodecPluginError when used; the other codecs are unaffected.
See docs/codecs.md, "Write your own codec".
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from fcbench.codecs.protocol import Codec

GROUP = "fcbench.codecs"


class CodecPluginError(RuntimeError):
    """A codec plug-in that cannot be used (import error, not a Codec, name clash)."""


@dataclass(frozen=True)
class Plugin:
    name: str  # the codec name (the entry point's name)
    target: str  # "package.module:Class"
    distribution: str  # "fcbench-codec-zlib 0.1.0"

    @property
    def origin(self) -> str:
        return f"plug-in {self.distribution} ({self.target})"


_ERRORS: dict[str, str] = {}  # codec name -> why its plug-in cannot be used
_LOADED: dict[str, tuple[Plugin, type["Codec"]]] = {}  # codec name -> its plug-in and class, once imported


def _entry_points() -> dict[str, metadata.EntryPoint]:
    """The installed entry points of the group, by name (first one wins, as Python's own lookup).
    Scanned at every call: a test or a notebook may extend sys.path at run time."""
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=GROUP):
        found.setdefault(ep.name, ep)
    return found


def _describe(ep: metadata.EntryPoint) -> Plugin:
    dist = getattr(ep, "dist", None)
    where = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "an unknown distribution"
    return Plugin(ep.name, ep.value, where)


def plugin_names() -> list[str]:
    return sorted(_entry_points())


def load(name: str, builtin: set[str]) -> Optional[type["Codec"]]:
    """The codec class of plug-in `name` (the registry registers it under that name); None if no
    plug-in has that name; CodecPluginError (naming the plug-in and the cause) if it cannot be used."""
    from fcbench.codecs.protocol import Codec

    if name in _ERRORS:
        raise CodecPluginError(_ERRORS[name])
    if name in _LOADED:  # loaded before: no second import or scan
        return _LOADED[name][1]
    ep = _entry_points().get(name)
    if ep is None:
        return None
    plugin = _describe(ep)
    what = f"codec plug-in {name!r} ({plugin.target}, from {plugin.distribution})"
    if name in builtin:
        _ERRORS[name] = f"{what} takes the name of a built-in codec: rename its entry point"
        raise CodecPluginError(_ERRORS[name])
    try:
        cls = ep.load()
    except Exception as exc:  # any import-time failure of foreign code: recorded, never fatal
        _ERRORS[name] = f"{what} failed to import: {type(exc).__name__}: {exc}"
        raise CodecPluginError(_ERRORS[name]) from exc
    if not (isinstance(cls, type) and issubclass(cls, Codec)) or getattr(cls, "__abstractmethods__", None):
        _ERRORS[name] = f"{what} is not a codec: {cls!r} must subclass fcbench.codecs.Codec and implement " \
                        "identity, encode_frame and decode_frame"
        raise CodecPluginError(_ERRORS[name])
    _LOADED[name] = (plugin, cls)
    return cls


def loaded() -> dict[str, type["Codec"]]:
    """{name: class} of every plug-in imported so far."""
    return {name: cls for name, (_, cls) in _LOADED.items()}


def load_all(builtin: set[str]) -> dict[str, str]:
    """Import every plug-in; returns {name: why} for those that cannot be used."""
    for name in plugin_names():
        try:
            load(name, builtin)
        except CodecPluginError:
            pass
    return {n: e for n, e in _ERRORS.items() if n in _entry_points()}


def origin(name: str) -> Optional[str]:
    """Where a loaded plug-in codec comes from, None for any other name."""
    return _LOADED[name][0].origin if name in _LOADED else None
