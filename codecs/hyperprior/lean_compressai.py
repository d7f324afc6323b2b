"""Import CompressAI without the parts the hyperprior never uses.

`import compressai` runs its package __init__, which imports every subpackage. Three modules
among them (compressai.datasets, compressai.transforms and compressai.registry.transforms)
import torch_geometric, which in turn imports torch._dynamo and transformers: about 4.5 s of
CPU, some 80 % of importing CompressAI, paid by every process that codes or trains with a
hyperprior (each pipeline task is one). The hyperprior needs the models, layers, entropy models
and the ANS coder only.

`load()` imports CompressAI with those three modules *deferred* (the real module, its code run
on the first use of one of its names) and `compressai.registry` assembled from
`compressai.registry.torch`, the names of `registry.transforms` (TRANSFORMS,
register_transform) resolved on first use. Nothing is replaced or faked: code that touches
compressai.datasets or TRANSFORMS gets the real thing, loaded then.

This depends on how CompressAI lays out its packages (checked against 1.2.8). If any step fails
(a release that imports differently), `load()` removes every module it added and falls back to
`import compressai`: slower, never wrong; `lean_loaded()` says which happened.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Sequence

PACKAGE = "compressai"
# The modules whose import pulls torch_geometric in; none is used by fcbench's hyperprior.
LAZY = ("compressai.datasets", "compressai.transforms", "compressai.registry.transforms")
_REGISTRY = "compressai.registry"
_lock = threading.Lock()
_lean = False


def lean_loaded() -> bool:
    """True when this process imported CompressAI through `load()`'s lean path."""
    return _lean


def load(lazy: Sequence[str] = LAZY) -> ModuleType:
    """The `compressai` package, imported lean when it is not imported yet (see the module
    docstring); `lazy` names the modules to defer (tests pass others)."""
    global _lean
    with _lock:
        if PACKAGE in sys.modules:
            return sys.modules[PACKAGE]
        before = set(sys.modules)
        try:
            module = _import_lean(lazy)
            _lean = True
            return module
        except Exception:  # any layout we do not know: undo, then import it the ordinary way
            for name in set(sys.modules) - before:
                if name == PACKAGE or name.startswith(PACKAGE + "."):
                    del sys.modules[name]
            return importlib.import_module(PACKAGE)


def _deferred_module(name: str, parent: ModuleType) -> ModuleType:
    """`name` registered and set on its parent package with its code not run yet: the first
    lookup of a name it does not have yet (module __getattr__, PEP 562) runs it. Unlike
    importlib.util.LazyLoader, reading its metadata (__file__, __spec__: inspect and pickle scan
    sys.modules that way) does not load it."""
    spec = importlib.machinery.PathFinder.find_spec(name, parent.__path__)
    if spec is None or spec.loader is None:
        raise ImportError(f"{name} not found")
    loader = spec.loader
    module = importlib.util.module_from_spec(spec)
    lock = threading.Lock()

    def load_on_use(attr: str) -> object:
        with lock:
            if module.__dict__.get("__getattr__") is load_on_use:
                del module.__dict__["__getattr__"]
                try:
                    loader.exec_module(module)
                except BaseException:
                    setattr(module, "__getattr__", load_on_use)  # as a failed import: the next use tries again
                    raise
        return object.__getattribute__(module, attr) if attr in module.__dict__ else _missing(module, attr)

    setattr(module, "__getattr__", load_on_use)
    sys.modules[name] = module
    setattr(parent, name.rsplit(".", 1)[1], module)
    return module


def _missing(module: ModuleType, attr: str) -> object:
    hook = module.__dict__.get("__getattr__")  # the module's own PEP 562 hook, if it has one
    if hook is not None:
        return hook(attr)
    raise AttributeError(f"module {module.__name__!r} has no attribute {attr!r}")


def _package(name: str, parent_path: Sequence[str] | None) -> tuple[ModuleType, importlib.machinery.ModuleSpec]:
    """A package module created and registered, its __init__ not run yet."""
    spec = (importlib.util.find_spec(name) if parent_path is None
            else importlib.machinery.PathFinder.find_spec(name, parent_path))
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not an importable package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    return module, spec


def _import_lean(lazy: Sequence[str]) -> ModuleType:
    top, top_spec = _package(PACKAGE, None)
    registry, _ = _package(_REGISTRY, top.__path__)
    setattr(top, "registry", registry)
    for name in lazy:
        parent = registry if name.startswith(_REGISTRY + ".") else top
        _deferred_module(name, parent)
    # compressai/registry/__init__ re-exports registry.torch and registry.transforms: the first
    # eagerly, the second on first use (module __getattr__, PEP 562).
    torch_registry = importlib.import_module(_REGISTRY + ".torch")
    registry.__dict__.update({k: v for k, v in vars(torch_registry).items() if not k.startswith("_")})
    transforms = sys.modules.get(_REGISTRY + ".transforms")
    if transforms is not None:
        setattr(registry, "__getattr__", lambda attr: getattr(transforms, attr))
    assert top_spec.loader is not None  # _package checked it
    top_spec.loader.exec_module(top)  # the real compressai/__init__: it finds the lazy modules set
    importlib.import_module("compressai.models.google")
    return top
