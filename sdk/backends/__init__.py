"""Backends: one file each, behind :class:`sdk.backends.base.Backend`.

Nothing heavy is imported here: a backend's module (and its runtime: onnxruntime,
torch, ...) is imported only when that backend is probed or loaded.
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

from sdk.errors import BackendUnavailableError

log = logging.getLogger("sdk")

# name -> module; "auto" tries them in this order (fastest first).
_BACKEND_MODULES = {
    "tensorrt": "sdk.backends.tensorrt",
    "torch-cuda": "sdk.backends.torch",
    "onnxruntime": "sdk.backends.onnxruntime",
    "torch": "sdk.backends.torch",
}
AUTO_ORDER = ("tensorrt", "torch-cuda", "onnxruntime")


@dataclass(frozen=True)
class BackendStatus:
    name: str
    available: bool
    reason: str  # why it is unavailable, or what it runs on


def _module(name: str):
    return importlib.import_module(_BACKEND_MODULES[name])


def probe(name: str) -> BackendStatus:
    if name not in _BACKEND_MODULES:
        raise BackendUnavailableError(f"unknown backend {name!r}; expected 'auto' or one of {sorted(_BACKEND_MODULES)}.")
    available, reason = _module(name).probe(name)
    return BackendStatus(name, available, reason)


def list_backends() -> list[BackendStatus]:
    """Every backend with whether it can run here and why (not)."""
    return [probe(name) for name in _BACKEND_MODULES]


def load_backend(name: str, package, precision: str = "auto", variant: str | None = None):
    """Load backend ``name`` ("auto" picks the first available of AUTO_ORDER) for ``package``."""
    if name == "auto":
        reasons = []
        for candidate in AUTO_ORDER:
            status = probe(candidate)
            if status.available:
                log.info("backend auto: chose %s (%s); skipped: %s", candidate, status.reason,
                         "; ".join(reasons) or "none")
                return _module(candidate).create(candidate, package, precision, variant)
            reasons.append(f"{candidate}: {status.reason}")
        raise BackendUnavailableError("no backend can run here: " + "; ".join(reasons) +
                                      ". Install onnxruntime (`pip install onnxruntime`).")
    status = probe(name)
    if not status.available:
        raise BackendUnavailableError(f"backend {name!r} is unavailable: {status.reason}")
    return _module(name).create(name, package, precision, variant)
