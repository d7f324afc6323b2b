"""Codec registry: names -> codec classes, built with typed options (no dispatch on class names).

Built-in codecs register themselves when their backend module is imported; installed packages add
codecs through the `fcbench.codecs` entry-point group (fcbench.codecs.plugins)."""
from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Callable, TypeVar

from fcbench.codecs.common.types import UnknownName

if TYPE_CHECKING:
    from fcbench.codecs.protocol import Codec

_REGISTRY: dict[str, type["Codec"]] = {}
# The built-in codecs, the one list: where each name lives, so building one codec imports only its
# backend (not torch for x265); every backend is imported lazily on first lookup.
BUILT_IN: dict[str, str] = {
    "x265": "fcbench.codecs.backends.x265",
    "av1": "fcbench.codecs.backends.av1",
    "vtm": "fcbench.codecs.backends.vtm",
    "vvenc": "fcbench.codecs.backends.vvenc",
    "bypass": "fcbench.codecs.backends.bypass",
    "lossless": "fcbench.codecs.backends.bypass",
    "hyperprior": "fcbench.codecs.hyperprior.codec",
    "klt": "fcbench.codecs.klt.codec",
}
_NAME_MODULES = BUILT_IN
_BACKEND_MODULES = tuple(dict.fromkeys(BUILT_IN.values()))
_loaded = False
C = TypeVar("C", bound=type)


def register(name: str) -> Callable[[C], C]:
    """Class decorator: make a codec constructible as get_codec(name, **options)."""

    def deco(cls: C) -> C:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"codec name {name!r} is already registered by {_REGISTRY[name].__qualname__}")
        cls.name = name  # type: ignore[attr-defined]
        _REGISTRY[name] = cls  # type: ignore[assignment]
        return cls

    return deco


def _load_backends() -> None:
    global _loaded
    if _loaded:
        return
    for module in _BACKEND_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a backend's own dependency is missing: say so
                raise
    _loaded = True


def _builtin_names() -> set[str]:
    _load_backends()
    return set(_NAME_MODULES) | {n for n, cls in _REGISTRY.items() if cls.__module__.startswith("fcbench.")}


def codec_names() -> list[str]:
    """Every usable codec: the built-in ones and the installed plug-ins that load (see
    plugin_errors for those that do not)."""
    from fcbench.codecs import plugins

    plugins.load_all(_builtin_names())
    _register_plugins(plugins.loaded())
    return sorted(_REGISTRY)


def plugin_errors() -> dict[str, str]:
    """{codec name: why} for installed codec plug-ins that cannot be used."""
    from fcbench.codecs import plugins

    return plugins.load_all(_builtin_names())


def codec_origin(name: str) -> str:
    """Where a codec comes from: 'fcbench (built-in)' or 'plug-in <distribution> (<module:Class>)'."""
    from fcbench.codecs import plugins

    cls = codec_class(name)
    return plugins.origin(name) or ("fcbench (built-in)" if cls.__module__.startswith("fcbench.")
                                    else f"registered by {cls.__module__}")


def codec_class(name: str) -> type["Codec"]:
    """The class registered as `name`: a built-in codec, else an installed plug-in (imported on
    first use; CodecPluginError names a plug-in that cannot be used)."""
    from fcbench.codecs import plugins

    if name not in _REGISTRY and name in _NAME_MODULES:
        try:
            importlib.import_module(_NAME_MODULES[name])
        except ModuleNotFoundError as exc:
            if exc.name != _NAME_MODULES[name]:  # a backend's own dependency is missing: say so
                raise
    if name not in _REGISTRY:
        _load_backends()
    if name not in _REGISTRY:
        cls = plugins.load(name, _builtin_names())
        if cls is None:
            known = sorted(set(_REGISTRY) | set(plugins.plugin_names()))
            raise UnknownName(f"unknown codec {name!r}; available: {', '.join(known) or 'none'}")
        _register_plugins({name: cls})
    return _REGISTRY[name]


def _register_plugins(classes: dict[str, type["Codec"]]) -> None:
    for name, cls in classes.items():
        if name not in _REGISTRY:
            register(name)(cls)


def get_codec(name: str, **options) -> "Codec":
    """Build the codec registered as `name` with its typed options."""
    cls = codec_class(name)
    params = inspect.signature(cls.__init__).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = sorted(set(options) - set(params) - {"self"})
    if unknown and not accepts_any:
        allowed = sorted(p for p in params if p != "self")
        raise TypeError(f"codec {name!r} has no option(s) {unknown}; its options are {allowed}")
    return cls(**options)
