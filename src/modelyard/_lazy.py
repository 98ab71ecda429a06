"""Lazy package exports (PEP 562), so importing one light submodule, or starting the
CLI, does not load every heavy sibling (scikit-learn, scipy, pandas) of a package."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, submodule_of: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``name`` from
    ``package.<submodule_of[name]>`` on first access and caches it in the package."""

    def __getattr__(name: str) -> Any:
        module = submodule_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(importlib.import_module(package), name, value)
        return value

    return __getattr__
